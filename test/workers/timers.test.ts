import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { freePort, spawnServer, waitFor200 } from '../fixtures/process.js'
import { until } from '../fixtures/wait.js'
import { appendEvent } from '../../src/store/events.js'
import { Subjects } from '../../src/store/subjects.js'
import { Events } from '../../src/schema/events/index.js'
import { countTimers } from '../../src/projections/timers.js'
import { mapLimit } from '../../src/lib/concurrency.js'

// Durable timers: rows with a due time, fired once by whichever instance's ticker gets there
// first (timer.fired on an empty subject), never by holding a message.

async function jobStatus (base: Service | string, eventId: string): Promise<{ status: string, eventDesc: string, completedAt: string | null, deadline: string }> {
  if (typeof base === 'string') return await (await fetch(`${base}/noti/jobs/${eventId}`)).json() as never
  return (await base.app.inject({ method: 'GET', url: `/noti/jobs/${eventId}` })).json()
}

t.test('100k timers pending far ahead hold no ack slot; one due in 2 s fires on time beside them', async t => {
  // the timer ticker on the HTTP thread (PROJECTIONS_THREAD=off), a mode kept under test
  const svc = await startService(t, { env: { PROJECTIONS_THREAD: 'off' } })
  const { runtime } = svc
  const far = new Date(Date.now() + 30 * 86_400_000).toISOString()
  const ids = Array.from({ length: 100_000 }, (_, i) => `far-${i}`)
  await mapLimit(ids, 256, async eventId => await appendEvent(runtime.js, {
    def: Events.jobRequested,
    data: { eventId, eventType: 'TRAINING', userId: 'bulk', requestedAt: new Date().toISOString(), deadline: far },
    subject: Subjects.jobRequested(eventId),
    source: 'test',
    time: new Date()
  }))
  await until('100k timer rows', async () => await countTimers(runtime.db) === 100_000 ? true : undefined, 90_000)

  const pub = await post(svc.app, '/noti/pub', { eventType: 'TEST', userId: 'u1', timeoutSeconds: 2 })
  const { eventId } = pub.json()
  const job = await until('the timeout', async () => { const j = await jobStatus(svc, eventId); return j.status === 'N' ? j : undefined }, 30_000)
  t.match(job.eventDesc, /^timed out/)
  t.comment(`fired ${Date.parse(job.completedAt!) - Date.parse(job.deadline)} ms after its due time (bench/timers.ts measures this)`)

  for (const consumer of ['job-timeouts', 'completion-worker']) {
    const info = await runtime.jsm.consumers.info('JOBS', consumer)
    t.equal(info.num_ack_pending, 0, `${consumer} holds no message`)
  }
  t.equal(await countOn(runtime, 'JOBS', 'timer.jobs.>'), 1, 'one timer fired')
  t.equal(await countTimers(runtime.db), 100_000, 'the far ones still wait, as rows')
  const metrics = (await svc.app.inject({ url: '/metrics' })).body
  t.match(metrics, /jetway_timers_pending 100000/, 'operators see them in /metrics')
  t.match(metrics, /jetway_timers_fired_total 1/)
})

t.test('two instances fire each timer once', async t => {
  const natsUrl = await natsServer(t)
  const a = await startService(t, { natsUrl })
  const b = await startService(t, { natsUrl })
  const ids: string[] = []
  for (let i = 0; i < 30; i++) ids.push((await post(a.app, '/noti/pub', { eventType: 'TEST', userId: `u${i}`, timeoutSeconds: 1 })).json().eventId)
  for (const id of ids) await until(`job ${id}`, async () => (await jobStatus(b, id)).status === 'N' ? true : undefined, 30_000)
  // both instances have projected every firing: nothing is left to fire anywhere
  await until('empty timer tables', async () => (await countTimers(a.runtime.db)) + (await countTimers(b.runtime.db)) === 0 ? true : undefined, 30_000)
  t.equal(await countOn(a.runtime, 'JOBS', 'timer.jobs.>'), 30, 'one timer.fired per timer')
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.completed.>'), 30, 'one timeout completion per job')
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.status.>'), 30, 'one status per job')
  t.ok((a.runtime.ticker?.fired ?? 0) + (b.runtime.ticker?.fired ?? 0) === 30, 'the two tickers fired 30 in all')
})

t.test('kill -9: a timer due while no instance runs fires once at the next start, and a restart right after a firing does not fire it again', async t => {
  const natsUrl = await natsServer(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-timers-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env = { NATS_URL: natsUrl, DATA_DIR: dataDir, PORT: String(port), TIMER_TICK: '50ms' }
  const start = async () => {
    const child = spawnServer(t, env)
    await waitFor200(`${base}/readyz`)
    return child
  }
  const kill9 = async (child: ReturnType<typeof spawnServer>) => {
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  let child = await start()
  const pub = await fetch(`${base}/noti/pub`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ eventType: 'DEPLOY', userId: 'k9', timeoutSeconds: 1 }) })
  const { eventId } = await pub.json() as { eventId: string }
  await kill9(child)
  const requested = await fetch(`${base}/noti/jobs/${eventId}`).catch(() => undefined)
  t.equal(requested, undefined, 'nobody is running')
  await sleep(1500) // past its due time while down

  child = await start()
  const job = await until('the late timeout', async () => { const j = await jobStatus(base, eventId); return j.status === 'N' ? j : undefined }, 30_000)
  t.match(job.eventDesc, /^timed out/)
  await kill9(child) // right after it fired: its row may still be in SQLite
  child = await start()
  await sleep(300) // six ticks of the new instance
  await kill9(child)

  const { runtime } = await startService(t, { natsUrl })
  t.equal(await countOn(runtime, 'JOBS', 'timer.jobs.>'), 1, 'fired once across three starts')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 1, 'one timeout completion')
  const sqlite = new SQLite(join(dataDir, 'jetway.db'), { readonly: true })
  const left = sqlite.prepare('select count(*) as n from timers').get() as { n: number }
  sqlite.close()
  t.equal(left.n, 0, 'the killed instance’s read model has no timer left to fire')
})
