import t from 'tap'
import { Writable } from 'node:stream'
import { startService, post, seqOf } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

// The default runtime: projections and the timer ticker in a worker thread of their own, with
// their own NATS connection and SQLite write connection. What the HTTP thread sees of them
// (read-your-writes, /readyz, the runners' controls, timer counts, log lines) crosses the
// thread boundary as messages.

const THREAD = { PROJECTIONS_THREAD: 'on' }

t.test('the projections run in their own thread; reads wait for their commits across it', async t => {
  const lines: Record<string, unknown>[] = []
  const logTo = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const { app, runtime } = await startService(t, { env: { ...THREAD, LOG_LEVEL: 'info' }, logTo })
  t.match(runtime.projectionThread, /^projections#\d+$/, 'not the main thread')

  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, new RegExp(`jetway_projection_thread_info\\{projection="collect-events",thread="${runtime.projectionThread}"\\} 1`))
  t.match(metrics, new RegExp(`jetway_projection_thread_info\\{projection="timers-jobs",thread="${runtime.projectionThread}"\\} 1`))

  // read-your-writes: the write's sequence, then the read waits for the thread's commit
  for (let i = 0; i < 20; i++) {
    const w = await post(app, '/api/collect', { event_id: `ryw-${i}`, event: 'view', user_id: 'thready' })
    const r = await app.inject({ url: '/api/event/thready', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })
    t.equal(r.statusCode, 200)
    if (!(r.json().items as { event_id: string }[]).some(e => e.event_id === `ryw-${i}`)) t.fail(`ryw-${i} missing from the read that waited for ${w.headers['jetway-seq'] as string}`)
  }
  // the runner's state crosses as a message, a moment after SQLite shows the commit
  t.ok(await until('the applied sequence on the HTTP thread', () => runtime.projections.get('collect-events')!.appliedSeq >= 20 ? true : undefined))

  // the thread's log lines reach this process's logger, marked with the thread
  const caughtUp = lines.find(l => l.msg === 'projection caught up' && l.projection === 'collect-events')
  t.match(caughtUp, { thread: 'projections', component: 'projection', appliedSeq: Number })
  t.ok(lines.some(l => l.msg === 'projections and the timer ticker run in their own thread'))
})

t.test('a runner in the thread stops, resets and starts again on the HTTP thread\'s call', async t => {
  const api = await startService(t, { env: { ...THREAD, READ_WAIT: '300ms', READY_MAX_LAG: '5' } })
  const runner = api.runtime.projections.get('collect-events')!
  await runner.stop()
  const w = await post(api.app, '/api/collect', { event_id: 'held-1', event: 'view', user_id: 'held' })
  const stale = await api.app.inject({ url: `/api/event/held?min_seq=${w.headers['jetway-seq'] as string}` })
  t.equal(stale.statusCode, 503, 'the read waited READ_WAIT for a runner that does not run')
  t.equal(stale.headers['retry-after'], '1')
  await until('/readyz says stalled', async () => {
    const r = await api.app.inject({ url: '/readyz' })
    return r.statusCode === 503 && /collect-events has not moved/.test(r.body) ? true : undefined
  })

  await runner.start()
  const fresh = await api.app.inject({ url: `/api/event/held?min_seq=${w.headers['jetway-seq'] as string}` })
  t.equal(fresh.json().items[0].event_id, 'held-1', 'applied once the runner runs again')

  await runner.stop()
  await runner.reset()
  t.equal(runner.appliedSeq, 0, 'the reset reached the HTTP thread')
  t.same((await api.app.inject({ url: '/api/event/held' })).json().items, [], 'the rows are gone')
  await runner.start()
  await until('the refill', async () => runner.appliedSeq >= seqOf(w) ? true : undefined)
  t.equal((await api.app.inject({ url: '/api/event/held' })).json().items.length, 1, 'refilled from the stream, once')
  await t.rejects(api.runtime.projections.get('collect-events')!.waitFor(seqOf(w) + 100, 50).then(ok => { if (!ok) throw new Error('not applied') }), 'a wait past the end times out')
})

t.test('timers fire from the thread: a job times out, and the HTTP thread counts the firing', async t => {
  const { app, runtime } = await startService(t, { env: { ...THREAD, TIMER_TICK: '50ms' } })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'slow', timeoutSeconds: 0.3 })).json() as { eventId: string }
  const job = await until('the timeout', async () => {
    const r = (await app.inject({ url: `/noti/jobs/${eventId}` })).json() as { status: string, eventDesc: string }
    return r.status === 'N' ? r : undefined
  })
  t.equal(job.eventDesc, 'timed out: no completion within 300ms')
  t.equal(runtime.ticker?.fired, 1, 'one timer fired, counted across the thread boundary')
  t.match((await app.inject({ url: '/metrics' })).body, /jetway_timers_fired_total 1/)
})
