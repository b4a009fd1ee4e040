import t from 'tap'
import { startService, post } from '../fixtures/service.js'

const event = (i: number, user = 'batch-user') => ({ event_id: `b-${i}`, event: 'view', user_id: user, parameters: null })

t.test('a batch appends the good events and reports each outcome; a bad one sinks nothing', async t => {
  const { app, runtime } = await startService(t)
  await post(app, '/api/collect', event(2))
  const r = await post(app, '/api/collect/batch', {
    events: [event(0), event(1), { event_id: 'bad', event: '', user_id: 'batch-user' }, event(2), 'not an object', { ...event(3), parameters: { price: 'free' } }]
  })
  t.equal(r.statusCode, 200)
  const body = r.json()
  t.match(body, { is_success: false, accepted: 2, duplicates: 1, rejected: 3 })
  t.match(body.results, [
    { index: 0, event_id: 'b-0', status: 'accepted' },
    { index: 1, event_id: 'b-1', status: 'accepted' },
    { index: 2, event_id: 'bad', status: 'rejected', errors: [{ field: 'events.2.event', message: 'must NOT have fewer than 1 characters' }] },
    { index: 3, event_id: 'b-2', status: 'duplicate' },
    { index: 4, status: 'rejected', errors: [{ field: 'events.4', message: 'must be object' }] },
    { index: 5, event_id: 'b-3', status: 'rejected', errors: [{ field: 'events.5.parameters.price', message: 'must be number' }] }
  ])
  t.ok(body.results[0].seq > 0)
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 3)
  const found = await app.inject({ url: `/api/event/batch-user?min_seq=${r.headers['jetway-seq'] as string}` })
  t.same(found.json().items.map((i: { event_id: string }) => i.event_id).sort(), ['b-0', 'b-1', 'b-2'])
})

t.test('a batch of 1000 is accepted with every event stored; 1001 is refused whole', async t => {
  const { app, runtime } = await startService(t)
  const events = Array.from({ length: 1000 }, (_, i) => event(i, `u${i % 7}`))
  const r = await post(app, '/api/collect/batch', { events })
  t.equal(r.statusCode, 200)
  t.match(r.json(), { is_success: true, accepted: 1000, rejected: 0, duplicates: 0 })
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 1000)
  await app.inject({ url: `/api/event/u0?min_seq=${r.headers['jetway-seq'] as string}` })
  const n = await runtime.db.selectFrom('collect_events').select(eb => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(n.n), 1000)

  const tooMany = await post(app, '/api/collect/batch', { events: [...events, event(1000)] })
  t.equal(tooMany.statusCode, 400)
  t.same(tooMany.json().errors, [{ field: 'events', message: 'must NOT have more than 1000 items' }])
  t.equal(tooMany.json().is_success, false)
})

t.test('a batch over 1 MiB is refused with 413 and appends nothing', async t => {
  const { app, runtime } = await startService(t)
  const big = Array.from({ length: 600 }, (_, i) => ({ ...event(i), parameters: { note: 'x'.repeat(2000) } }))
  const r = await post(app, '/api/collect/batch', { events: big })
  t.equal(r.statusCode, 413)
  t.equal(r.headers['content-type'], 'application/problem+json')
  t.equal(r.json().is_success, false)
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 0)
})
