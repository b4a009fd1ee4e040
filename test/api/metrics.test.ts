import t from 'tap'
import { startService, post } from '../fixtures/service.js'
import { readSse } from '../fixtures/sse-fetch.js'
import { httpTarget } from '../fixtures/http-target.js'

// /metrics for operators: per-stream and per-consumer gauges read from JetStream at each
// scrape, open SSE connections per feed, the timers' backlog and lag, and outbound calls by
// outcome.

function metric (body: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels}`.replace(/[{}"=.,]/g, c => `\\${c}`)
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(body)
  return m === null ? undefined : Number(m[1])
}

t.test('streams, consumers, SSE connections, timers and outbound calls', async t => {
  const target = await httpTarget(t)
  const { app, url, runtime } = await startService(t, { listen: 0, env: { RELAY_ALLOW: '127.0.0.0/8' } })
  await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ann' })
  await post(app, '/api/collect', { event_id: 'm1', event: 'view', user_id: 'ann' })
  await post(app, '/api/collect', { event_id: 'm2', event: 'view', user_id: 'ann' })
  t.equal((await post(app, '/sync', { targetURL: target.origin, targetAPI: '/ok' })).statusCode, 200)
  t.equal((await post(app, '/sync', { targetURL: 'http://10.0.0.1', targetAPI: '/no' })).statusCode, 403, 'the SSRF guard refuses a private address')

  const jobs = await readSse(t, `${url}/noti/users/ann/sub`)
  await jobs.next(e => e.event === 'position')
  const tail = await readSse(t, `${url}/api/tail`)
  await tail.next(e => e.event === 'position')

  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  const body = res.body
  t.equal(metric(body, 'jetway_stream_messages', '{stream="COLLECT"}'), 2)
  t.ok(metric(body, 'jetway_stream_bytes', '{stream="COLLECT"}')! > 0)
  t.equal(metric(body, 'jetway_stream_last_seq', '{stream="JOBS"}'), 1)
  const { statSync } = await import('node:fs')
  t.ok(metric(body, 'jetway_read_model_bytes', '{file="db"}')! >= 4096, 'the SQLite file')
  t.equal(metric(body, 'jetway_read_model_bytes', '{file="db"}'), statSync(runtime.config.dbFile).size)
  t.ok(metric(body, 'jetway_read_model_bytes', '{file="wal"}') !== undefined, 'its WAL')
  t.equal(metric(body, 'jetway_stream_messages', '{stream="DLQ"}'), 0)
  t.equal(metric(body, 'jetway_consumer_pending', '{stream="JOBS",consumer="completion-worker"}'), 0)
  t.equal(metric(body, 'jetway_consumer_ack_pending', '{stream="JOBS",consumer="completion-worker"}'), 0)
  t.equal(metric(body, 'jetway_consumer_redelivered', '{stream="NOTIFY",consumer="notification-service-group"}'), 0)
  t.ok(metric(body, 'jetway_consumer_waiting', '{stream="JOBS",consumer="completion-worker"}')! >= 1, 'the completion worker is pulling')
  t.notMatch(body, /jetway_consumer_pending\{stream="[A-Z]+",consumer="[A-Za-z0-9]{20,}"\}/, 'no ephemeral consumer')
  t.equal(metric(body, 'jetway_sse_connections', '{feed="jobs"}'), 1)
  t.equal(metric(body, 'jetway_sse_connections', '{feed="tail"}'), 1)
  t.equal(metric(body, 'jetway_sse_connections', '{feed="tasks"}'), 0)
  t.equal(metric(body, 'jetway_timers_due'), 0)
  t.equal(metric(body, 'jetway_timers_pending'), 1, 'the job\'s timeout is armed')
  t.equal(metric(body, 'jetway_timer_fire_lag_seconds'), 0)
  t.equal(metric(body, 'jetway_outbound_requests_total', '{outcome="2xx"}'), 1)
  t.equal(metric(body, 'jetway_outbound_requests_total', '{outcome="refused"}'), 1)

  jobs.close()
  tail.close()
  await t.resolves(async () => {
    for (;;) {
      const again = (await app.inject({ url: '/metrics' })).body
      if (metric(again, 'jetway_sse_connections', '{feed="jobs"}') === 0 && metric(again, 'jetway_sse_connections', '{feed="tail"}') === 0) return
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }, 'closed connections are no longer counted')
})

t.test('the HTTP thread\'s stalls: event-loop delay and GC pauses as histograms', async t => {
  const { app } = await startService(t)
  const scrape = async (): Promise<string> => (await app.inject({ url: '/metrics' })).body
  const before = await scrape()
  const late = (body: string): number => metric(body, 'jetway_event_loop_delay_seconds_count')! - metric(body, 'jetway_event_loop_delay_seconds_bucket', '{le="0.02"}')!
  // a stall of 30 ms on this thread: the sampler's next run is a sample past 20 ms (on a busy
  // machine other stalls may add more)
  const until = performance.now() + 30
  while (performance.now() < until);
  await new Promise(resolve => setTimeout(resolve, 20))
  const stalled = await scrape()
  t.ok(late(stalled) - late(before) >= 1, 'the stall is a sample over 20 ms')
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  await new Promise(resolve => setTimeout(resolve, 20))
  const after = await scrape()
  t.ok(metric(after, 'jetway_event_loop_delay_seconds_count')! > metric(before, 'jetway_event_loop_delay_seconds_count')!, 'sampled all along')
  t.ok(metric(after, 'jetway_gc_pause_seconds_count', '{kind="major"}')! >= 1, 'a full collection is counted as a major pause')
  t.match(after, /^jetway_gc_pause_seconds_bucket\{le="0\.001",kind="major"\} \d+$/m, 'in buckets from 1 ms')
})
