import t, { type Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, seqOf, type Service } from '../fixtures/service.js'
import { postgresDatabase } from '../fixtures/postgres.js'
import { until } from '../fixtures/wait.js'
import { eventHeaders } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { openDatabase } from '../../src/projections/db.js'
import { migrations } from '../../src/schema/migrations.js'
import { sql } from 'kysely'

// A fleet sharing its read models in one PostgreSQL (READ_MODEL_URL): each read model is
// applied by one instance, every instance answers reads from the shared rows, and a read that
// names a write's sequence (read-your-writes) waits for the shared checkpoint wherever it is.

const organizer = { userId: 'org', email: 'org@example.com' }
const held = (svc: Service): string[] => [...svc.runtime.projections.values()].filter(r => r.holding).map(r => r.name).sort()

async function fleetOf (t: Test, n: number): Promise<{ services: Service[], url: string, natsUrl: string }> {
  const natsUrl = await natsServer(t)
  const url = await postgresDatabase()
  const services: Service[] = []
  for (let i = 0; i < n; i++) services.push(await startService(t, { natsUrl, env: { READ_MODEL_URL: url, PROJECTION_TAKEOVER: '1s' } }))
  return { services, url, natsUrl }
}

t.test('three instances on one PostgreSQL: one holder per read model, writes through each, read-your-writes on every instance', async t => {
  const { services } = await fleetOf(t, 3)
  const names = [...services[0]!.runtime.projections.keys()].sort()
  const holders = names.map(name => services.filter(s => s.runtime.projections.get(name)!.holding).length)
  t.same(holders, names.map(() => 1), 'each read model is applied by exactly one instance')
  t.same(held(services[0]!), names, 'the first instance took them all (the others found them held)')

  for (const [i, writer] of services.entries()) {
    const w = await post(writer.app, '/api/collect', { event_id: `ev-${i}`, event: 'view', user_id: 'ann', parameters: { by: i } })
    t.equal(w.statusCode, 200)
    for (const reader of services) {
      const r = await reader.app.inject({ url: '/api/event/ann', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })
      t.equal(r.statusCode, 200)
      t.ok(r.json().items.some((e: { event_id: string }) => e.event_id === `ev-${i}`), `a write through instance ${i} is read at once through every instance`)
    }
    const m = await post(writer.app, '/api/meetings', { title: `M${i}`, startsAt: new Date(Date.now() + 86_400_000 * (i + 1)).toISOString(), durationMinutes: 30, location: 'Hall', participants: [{ email: `p${i}@example.com` }], organizer })
    t.equal(m.statusCode, 201)
    for (const reader of services) {
      const r = await reader.app.inject({ url: `/api/meetings/${m.json().id as string}?min_seq=${seqOf(m)}` })
      t.equal(r.statusCode, 200, `a meeting scheduled through instance ${i} is read through every instance`)
    }
  }
  const answers = await Promise.all(services.map(async s => (await s.app.inject({ url: '/api/event/ann' })).body))
  t.equal(new Set(answers).size, 1, 'every instance answers the same bytes')
  t.equal(JSON.parse(answers[0]!).items.length, 3)
  const lists = await Promise.all(services.map(async s => (await s.app.inject({ url: '/api/meetings?userId=org' })).body))
  t.equal(new Set(lists).size, 1, 'the meeting list too')
  t.equal(JSON.parse(lists[0]!).items.length, 3)
})

t.test('an instance that stops hands its read models over at once; writes keep being applied', async t => {
  const [a, b] = (await fleetOf(t, 2)).services as [Service, Service]
  t.ok(held(a).length > 0 && held(b).length === 0, 'a holds, b stands by')
  await a.close()
  await until('b holds every read model', () => held(b).length === b.runtime.projections.size ? true : undefined)
  const w = await post(b.app, '/api/collect', { event_id: 'after', event: 'view', user_id: 'bob' })
  const r = await b.app.inject({ url: '/api/event/bob', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })
  t.same(r.json().items.map((e: { event_id: string }) => e.event_id), ['after'])
})

t.test('a new instance after 200,000 events: ready on its first /readyz, serves reads without replaying the stream', async t => {
  const EVENTS = 200_000
  const { services, natsUrl, url } = await fleetOf(t, 1)
  const a = services[0]!
  // fill COLLECT fast: core publishes, flushed every 5k, then acknowledged ones for any the server dropped
  const nc = await connect({ servers: natsUrl })
  t.teardown(async () => { await nc.close() })
  const encoder = new TextEncoder()
  const publish = (i: number, acked: boolean): Promise<unknown> | undefined => {
    const t0 = Date.UTC(2024, 0, 1) + i * 1000
    const at = new Date(t0).toISOString().replace('Z', '000Z')
    const data = { event_id: `e-${i}`, event: 'view', user_id: `user-${i % 1000}`, parameters: { i }, event_datetime: at, received_at: at }
    const opts = { headers: eventHeaders({ def: Events.collectEventReceived, data, subject: '', source: '/jetway/test', time: new Date(t0) }) }
    const payload = encoder.encode(JSON.stringify(data))
    if (acked) return jetstream(nc).publish(`collect.user.${data.user_id}.view`, payload, opts)
    nc.publish(`collect.user.${data.user_id}.view`, payload, opts)
    return undefined
  }
  for (let i = 1; i <= EVENTS; i++) {
    publish(i, false)
    if (i % 5000 === 0) await nc.flush()
  }
  await nc.flush()
  let stored = 0
  for (let still = 0; stored < EVENTS && still < 20;) {
    const now = (await a.runtime.jsm.streams.info('COLLECT')).state.messages
    still = now === stored ? still + 1 : 0
    stored = now
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  for (let i = stored + 1; i <= EVENTS; i++) await publish(i, true)
  const end = (await a.runtime.jsm.streams.info('COLLECT')).state.last_seq
  t.equal(end, EVENTS)
  await until(`${EVENTS} events projected`, async () => (await a.runtime.readModels.state('collect-events')).appliedSeq >= end ? true : undefined, 200_000)

  const consumers = async (): Promise<number> => (await a.runtime.jsm.consumers.list('COLLECT').next()).length
  const before = await consumers()
  const b = await startService(t, { natsUrl, env: { READ_MODEL_URL: url } })
  const ready = await b.app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200, 'its first /readyz is 200')
  t.equal(ready.json().projections['collect-events'].appliedSeq, EVENTS, 'the shared checkpoint: every event applied')
  t.same(held(b), [], 'it applies nothing (a holds the read models)')
  const page = await b.app.inject({ url: '/api/event/user-7?limit=100' })
  t.equal(page.json().items.length, 100, 'it answers a search over the shared rows')
  t.equal(page.json().items[0].event_id, 'e-7')
  t.equal(await consumers(), before, 'it opened no consumer on COLLECT: nothing replayed')
  const appliedBy = await b.runtime.db.selectFrom('collect_events').select(eb => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.equal(appliedBy.n, EVENTS)
})

t.test('an instance of an older build leaves a read model a newer build has rebuilt to that build', async t => {
  const { services, natsUrl, url } = await fleetOf(t, 1)
  const a = services[0]!
  const job = await post(a.app, '/noti/pub', { eventType: 'TRAINING', userId: 'ann' })
  t.equal((await a.app.inject({ url: `/noti/jobs/${job.json().eventId as string}?min_seq=${seqOf(job)}` })).statusCode, 200)
  await a.close()
  // a newer build of the jobs read model (version + 1) has since rebuilt it in this database
  const db = await openDatabase(url)
  t.teardown(async () => { await db.destroy() })
  const { version } = await db.selectFrom('projection_checkpoints').select('version').where('name', '=', 'jobs').executeTakeFirstOrThrow()
  await db.updateTable('projection_checkpoints').set({ version: version + 1 }).where('name', '=', 'jobs').execute()

  const b = await startService(t, { natsUrl, env: { READ_MODEL_URL: url } })
  const jobs = b.runtime.projections.get('jobs')!
  await until('b leaves jobs to the newer build', () => !jobs.holding && b.runtime.projections.get('meetings')!.holding ? true : undefined)
  const after = await db.selectFrom('projection_checkpoints').select(['version', 'last_seq']).where('name', '=', 'jobs').executeTakeFirstOrThrow()
  t.same(after, { version: version + 1, last_seq: seqOf(job) }, 'the newer build\'s checkpoint stays')
  const rows = await db.selectFrom('jobs').select('event_id').execute()
  t.same(rows.map(r => r.event_id), [job.json().eventId], 'and its rows: the older build did not rebuild them to its version')
})

t.test('instances that start together on an empty database migrate it once', async t => {
  const url = await postgresDatabase()
  const dbs = await Promise.all([1, 2, 3].map(async () => await openDatabase(url)))
  t.teardown(async () => { await Promise.all(dbs.map(async db => await db.destroy())) })
  const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(dbs[0]!)
  t.same(applied.rows.map(r => r.name), Object.keys(migrations).sort(), 'every migration once')
  for (const db of dbs) t.same(await db.selectFrom('projection_checkpoints').selectAll().execute(), [], 'each opened the same, migrated database')
})
