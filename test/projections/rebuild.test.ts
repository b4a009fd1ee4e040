import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.js'
import { startRuntime, type Runtime } from '../../src/runtime.js'
import { rebuildProjection } from '../../src/projections/rebuild.js'
import { ProjectionRunner } from '../../src/projections/runner.js'
import { collectEvents } from '../../src/projections/collect-events.js'
import { startService, post, readModelEnv, seqOf, type Service } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

/** What `npm run rebuild` starts beside a running service: its own connections to the same NATS and SQLite file. */
async function rebuilder (t: Test, svc: Service, dataDir = svc.dataDir): Promise<Runtime> {
  const config = loadConfig({ NATS_URL: svc.natsUrl, DATA_DIR: dataDir, ROLES: 'projections', LOG_LEVEL: 'silent', ...await readModelEnv(dataDir) })
  const runtime = await startRuntime(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }).child({ side: 'rebuilder' }), { startProjections: false })
  t.teardown(runtime.close)
  return runtime
}

const events = (from: number, n: number): object[] => Array.from({ length: n }, (_, i) => ({ event_id: `e-${from + i}`, event: 'view', user_id: `u${(from + i) % 4}` }))

t.test('a rebuild beside a running service, with a writer running and then stopped, finishes with every event once', async t => {
  const svc = await startService(t)
  for (let i = 0; i < 3; i++) await post(svc.app, '/api/collect/batch', { events: events(i * 1000, 1000) })

  const writing = { on: true }
  let lastWrite: { headers: Record<string, unknown> } | undefined
  let n = 3000
  const writer = (async () => {
    while (writing.on) lastWrite = await post(svc.app, '/api/collect', events(n++, 1)[0])
  })()

  const other = await rebuilder(t, svc)
  const progress: number[] = []
  const rebuild = rebuildProjection(other, 'collect-events', applied => {
    progress.push(applied)
    if (applied >= 2000) writing.on = false // the writer stops while the rebuild runs
  }, { stallMs: 20_000 })
  const result = await rebuild
  writing.on = false
  await writer
  t.ok(result.applied >= 3000, `the rebuild finished at ${result.applied} of ${result.total}`)
  t.ok(progress.includes(0) && progress.length > 1, 'progress was reported')

  // the service's own runner carries on after the rebuild: a read with the last write's sequence sees it
  const last = await svc.app.inject({ url: '/api/event/u0?limit=1', headers: { 'jetway-seq': lastWrite!.headers['jetway-seq'] as string } })
  t.equal(last.statusCode, 200)
  const end = (await svc.runtime.jsm.streams.info('COLLECT')).state.last_seq
  t.equal(end, n, 'every write is in the stream')
  const rows = await svc.runtime.db.selectFrom('collect_events').select(eb => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(rows.n), n, 'one row per event: nothing lost, nothing doubled')
  t.same(await svc.runtime.readModels.state('collect-events'), { name: 'collect-events', stream: 'COLLECT', appliedSeq: n, rebuilding: false })
  await until('readyz says ready', async () => (await svc.app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined)
})

t.test('while a rebuild holds a read model, reads and /readyz do not take its emptied tables for current', async t => {
  const svc = await startService(t, { env: { READ_WAIT: '300ms' } })
  const w = await post(svc.app, '/api/collect/batch', { events: events(0, 50) })
  t.equal((await svc.app.inject({ url: '/api/event/u1', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })).json().items.length, 13)

  // another process's rebuild has dropped the rows and not yet replayed them
  const other = await rebuilder(t, svc)
  const rebuild = new ProjectionRunner({ projection: collectEvents, js: other.js, db: other.db, log: other.log, clock: other.clock, mode: 'rebuild' })
  await rebuild.reset({ rebuilding: true })
  // On PostgreSQL a read takes the checkpoint it last heard of: another instance's rebuild
  // reaches it with the checkpoint's notification, a moment after the commit (docs/read-models.md:
  // "SQLite or PostgreSQL"). On SQLite every read looks at the row itself.
  if (svc.runtime.config.readModelUrl !== undefined) {
    await until('the service has heard of the rebuild', async () => (await svc.app.inject({ url: '/api/event/u1' })).statusCode === 503 ? true : undefined)
  }

  const ready = await svc.app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 503, 'not ready while rebuilding')
  t.match(ready.json(), { status: 'not ready', projections: { 'collect-events': { rebuilding: true, caughtUp: false } }, reasons: [/collect-events is being rebuilt/] })
  for (const headers of [{}, { 'jetway-seq': w.headers['jetway-seq'] as string }]) {
    const read = await svc.app.inject({ url: '/api/event/u1', headers })
    t.equal(read.statusCode, 503, 'a read is not answered from the emptied table')
    t.match(read.json(), { code: 'JETWAY_PROJECTION_LAGGING', detail: /being rebuilt/ })
    t.equal(read.headers['retry-after'], '1')
  }
  t.equal((await svc.app.inject({ url: '/api/event/u1?min_seq=COLLECT:1' })).statusCode, 503, 'not even for a sequence the rebuild passed')

  // a write meanwhile: the service's runner finds the checkpoint moved and waits for the rebuild
  const during = await post(svc.app, '/api/collect', events(50, 1)[0])
  const serving = svc.runtime.projections.get('collect-events')!
  await until('the service runner pauses for the rebuild', () => serving.rebuilding ? true : undefined)

  await rebuild.start()
  t.teardown(async () => { await rebuild.stop() })
  t.ok((await other.readModels.waitFor('collect-events', undefined, 20_000)).ok, 'the rebuild reaches the stream\'s end')
  await rebuild.stop()
  const after = await svc.app.inject({ url: '/api/event/u2?limit=1000', headers: { 'jetway-seq': during.headers['jetway-seq'] as string } })
  t.equal(after.statusCode, 200)
  t.equal(after.json().items.length, 13, 'every row back, the write made during the rebuild too')
  await until('readyz says ready', async () => (await svc.app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined)
  t.notOk(serving.rebuilding)
})

t.test('a serving runner takes over from a rebuild that died (its lease ran out)', async t => {
  const svc = await startService(t)
  const w = await post(svc.app, '/api/collect/batch', { events: events(0, 200) })
  const dir = await mkdtemp(join(tmpdir(), 'jetway-lease-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const other = await rebuilder(t, svc, dir)
  const opts = { projection: collectEvents, js: other.js, db: other.db, log: other.log, clock: other.clock }

  // a rebuild that reset the read model, then died before replaying (a kill, a lost terminal)
  await new ProjectionRunner({ ...opts, mode: 'rebuild' }).reset({ rebuilding: true })
  const serving = new ProjectionRunner({ ...opts, rebuildLeaseMs: 200 })
  await serving.start()
  t.teardown(async () => { await serving.stop() })
  const done = await other.readModels.waitFor('collect-events', seqOf(w), 20_000)
  t.ok(done.ok, 'the serving runner took over and caught up')
  t.same(done.state, { name: 'collect-events', stream: 'COLLECT', appliedSeq: 200, rebuilding: false })
  const rows = await other.db.selectFrom('collect_events').select(eb => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(rows.n), 200)
})
