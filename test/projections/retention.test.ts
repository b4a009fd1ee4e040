import t from 'tap'
import { post, seqOf, startService } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { readSse } from '../fixtures/sse-fetch.js'
import { RetentionFollower } from '../../src/projections/retention.js'
import { collectEvents } from '../../src/projections/collect-events.js'
import { rebuildProjection } from '../../src/projections/rebuild.js'

// RETENTION_COLLECT is COLLECT's max_age, and the read model follows the stream: what the
// stream aged out, a search no longer answers (after at most one tick of the retention
// follower); a rebuild, a start with an empty DATA_DIR and an SSE resume all work from a stream
// whose first sequence is no longer 1.

const event = (user: string, id: string) => ({ event_id: id, event: 'view', user_id: user, parameters: { id } })
const idsOf = (body: { items: { event_id: string }[] }): string[] => body.items.map(i => i.event_id)

t.test('a short RETENTION_COLLECT: stream and read model drop old events; rebuild, replay and resume start at the oldest held', async t => {
  const svc = await startService(t, { env: { RETENTION_COLLECT: '2s' } })
  const { app, runtime } = svc
  const info = await runtime.jsm.streams.info('COLLECT')
  t.equal(info.config.max_age, 2e9, 'max_age is RETENTION_COLLECT')
  t.equal(info.config.duplicate_window, 2e9, 'the duplicate window is cut to the retention (JetStream refuses a longer one)')

  let last = 0
  for (let i = 0; i < 5; i++) last = seqOf(await post(app, '/api/collect', event('old', `o${i}`)))
  t.same(idsOf((await app.inject({ url: `/api/event/old?min_seq=${last}` })).json()), ['o0', 'o1', 'o2', 'o3', 'o4'])
  await until('COLLECT to age the events out', async () => (await runtime.jsm.streams.info('COLLECT')).state.first_seq > last ? true : undefined)

  // one tick of the follower (the service runs its own every TIMER_TICK): nothing older than the floor is left
  const follower = new RetentionFollower({ db: runtime.db, jsm: runtime.jsm, projections: [collectEvents], log: runtime.log, tickMs: 1000 })
  const floor = (await runtime.jsm.streams.info('COLLECT')).state.first_seq
  await follower.tick()
  const stale = await runtime.db.selectFrom('collect_events').select('seq').where('seq', '<', floor).execute()
  t.same(stale, [], 'no row of an event the stream no longer holds')
  t.same(idsOf((await app.inject({ url: '/api/event/old' })).json()), [], 'a search does not answer aged-out events')
  await svc.close()

  // the same stream and data, now with a long retention: what comes next stays for the checks below
  const env = { RETENTION_COLLECT: '1h' }
  const again = await startService(t, { natsUrl: svc.natsUrl, dataDir: svc.dataDir, env, listen: 0 })
  const fresh: number[] = []
  for (let i = 0; i < 3; i++) fresh.push(seqOf(await post(again.app, '/api/collect', event('new', `n${i}`))))
  const { state } = await again.runtime.jsm.streams.info('COLLECT')
  t.equal(state.first_seq, last + 1, 'the stream starts after the aged-out events')
  t.same(idsOf((await again.app.inject({ url: `/api/event/new?min_seq=${fresh.at(-1)!}` })).json()), ['n0', 'n1', 'n2'], 'what the stream holds is there')

  // SSE resume (the console tail) from an id that aged out: starts at the oldest event held, no error
  const tail = await readSse(t, `${again.url}/api/tail?streams=COLLECT`, { 'last-event-id': 'COLLECT:1' })
  t.equal(tail.status, 200)
  const resumed = await tail.next(e => e.event === 'collect.event.received')
  t.equal(JSON.parse(resumed.data).seq, state.first_seq, 'the resume starts at the oldest event still held')
  tail.close()

  // a rebuild replays from a stream whose first sequence is not 1
  const rebuilt = await rebuildProjection(again.runtime, 'collect-events', () => {})
  t.equal(rebuilt.applied, fresh.at(-1), 'the rebuild reaches the stream end')
  t.same(idsOf((await again.app.inject({ url: '/api/event/new' })).json()), ['n0', 'n1', 'n2'])
  t.same(idsOf((await again.app.inject({ url: '/api/event/old' })).json()), [])

  // a start with an empty DATA_DIR replays the same way
  const second = await startService(t, { natsUrl: svc.natsUrl, env })
  t.same(idsOf((await second.app.inject({ url: `/api/event/new?min_seq=${fresh.at(-1)!}` })).json()), ['n0', 'n1', 'n2'])
  t.same(idsOf((await second.app.inject({ url: '/api/event/old' })).json()), [])
})

t.test('a retention change applies to the running stream at the next start; unset keeps forever', async t => {
  const first = await startService(t, { env: { RETENTION_COLLECT: '400d', RETENTION_DLQ: '30d' } })
  const natsUrl = first.natsUrl
  t.equal((await first.runtime.jsm.streams.info('COLLECT')).config.max_age, 400 * 86_400e9)
  t.equal((await first.runtime.jsm.streams.info('COLLECT')).config.duplicate_window, 120e9, 'DUPLICATE_WINDOW when shorter than the retention')
  t.equal((await first.runtime.jsm.streams.info('DLQ')).config.max_age, 30 * 86_400e9)
  t.equal((await first.runtime.jsm.streams.info('JOBS')).config.max_age, 0, 'a stream without RETENTION_ keeps forever')
  await post(first.app, '/api/collect', event('kept', 'k1'))
  await first.close()

  const changed = await startService(t, { natsUrl, env: { RETENTION_COLLECT: '30d' } })
  t.equal((await changed.runtime.jsm.streams.info('COLLECT')).config.max_age, 30 * 86_400e9, 'changed on the running stream')
  t.equal((await changed.runtime.jsm.streams.info('DLQ')).config.max_age, 0, 'unset again: forever')
  t.equal((await changed.runtime.jsm.streams.info('COLLECT')).state.messages, 1, 'its messages stay')
})
