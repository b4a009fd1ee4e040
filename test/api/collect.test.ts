import t from 'tap'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { startService, post, seqOf } from '../fixtures/service.js'
import { decodeEvent, keyOf } from '../../src/store/events.js'

const seedBody = {
  event_id: 'evt-0001',
  event: 'purchase',
  user_id: 'user-1',
  parameters: { order_id: 'order-9', currency: 'KRW', price: 12000.5 }
}

t.test('the seed body on both routes answers the seed answer and lands in COLLECT', async t => {
  const { app, runtime } = await startService(t)
  const first = await post(app, '/api/collect', seedBody)
  t.equal(first.statusCode, 200)
  t.same(first.json(), { is_success: true })
  t.strictSame(Object.keys(first.json()), ['is_success'])
  t.equal(first.headers['jetway-duplicate'], 'false')
  const seq = seqOf(first)
  t.ok(seq > 0, 'answer carries the stream sequence')

  const msg = await runtime.jsm.streams.getMessage('COLLECT', { seq })
  t.ok(msg !== null)
  t.equal(msg!.subject, 'collect.user.user-1.purchase')
  // the compact envelope: only what differs from COLLECT's defaults (src/store/events.ts)
  t.same([...msg!.header.keys()].sort(), ['Nats-Msg-Id', 'ce-correlationid', 'ce-id', 'ce-subject', 'ce-time'])
  t.equal(msg!.header.get('ce-subject'), 'user-1')
  t.match(msg!.header.get('ce-id'), /^[A-Za-z0-9_-]{22}$/)
  t.match(decodeEvent(msg!), { type: 'collect.event.received', version: 1, source: '/jetway/collect', about: 'user-1' }, 'the defaults fill what is not written')
  t.equal(msg!.header.get('Nats-Msg-Id'), keyOf('collect', 'user-1', 'evt-0001'), 'the idempotency key is (user_id, event_id)')
  t.match(msg!.json(), { ...seedBody, event_datetime: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/ })

  const second = await post(app, '/api/event', { ...seedBody, event_id: 'evt-0002', parameters: null })
  t.same(second.json(), { is_success: true })
  const found = await app.inject({ url: '/api/event/user-1', headers: { 'jetway-seq': second.headers['jetway-seq'] as string } })
  t.equal(found.statusCode, 200)
  const items = found.json().items
  t.equal(items.length, 2)
  t.strictSame(Object.keys(items[0]).sort(), ['event', 'event_datetime', 'event_id', 'parameters', 'user_id'])
  t.same(items[0].parameters, seedBody.parameters)
  t.equal(items[1].parameters, null)
})

t.test('a client event_datetime is kept, with microseconds, in UTC', async t => {
  const { app } = await startService(t)
  const r = await post(app, '/api/collect', { ...seedBody, event_datetime: '2024-03-01T09:30:00.123456+09:00' })
  t.equal(r.statusCode, 200)
  const found = await app.inject({ url: `/api/event?user_id=user-1&min_seq=${r.headers['jetway-seq'] as string}` })
  t.equal(found.json().items[0].event_datetime, '2024-03-01T00:30:00.123456Z')
  const bad = await post(app, '/api/collect', { ...seedBody, event_id: 'x', event_datetime: '2024-02-30T00:00:00Z' })
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors, [{ field: 'event_datetime', message: 'must be an ISO 8601 date-time' }])
  t.equal(bad.json().is_success, false)
})

t.test('further parameter keys are kept; price must be a number', async t => {
  const { app } = await startService(t)
  const params = { order_id: 'o', currency: 'USD', price: 3, coupon: 'SPRING', items: [{ sku: 'a', qty: 2 }] }
  const r = await post(app, '/api/collect', { ...seedBody, parameters: params })
  t.equal(r.statusCode, 200)
  const found = await app.inject({ url: `/api/event/user-1?min_seq=${r.headers['jetway-seq'] as string}` })
  t.same(found.json().items[0].parameters, params)
  const bad = await post(app, '/api/collect', { ...seedBody, event_id: 'p2', parameters: { price: '3.50' } })
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors, [{ field: 'parameters.price', message: 'must be number' }])
})

t.test('the same event_id appends once and is stored once, and the answer says duplicate', async t => {
  const { app, runtime } = await startService(t)
  const first = await post(app, '/api/collect', seedBody)
  const again = await post(app, '/api/collect', seedBody)
  t.same(again.json(), { is_success: true })
  t.equal(again.headers['jetway-duplicate'], 'true')
  t.equal(again.headers['jetway-seq'], first.headers['jetway-seq'], 'JetStream dedupe answers with the first sequence')
  const info = await runtime.jsm.streams.info('COLLECT')
  t.equal(info.state.messages, 1, 'one message in the stream')

  // Past the duplicate window a retry would append again: simulate that with a second copy
  // under another Nats-Msg-Id. The read model still keeps one row for the (user_id, event_id).
  const h = natsHeaders()
  for (const [k, v] of Object.entries({ 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': 'test', 'ce-type': 'collect.event.received', 'ce-time': new Date().toISOString(), 'ce-dataschema': 'jetway:collect.event.received:v1' })) h.set(k, v)
  const late = await runtime.js.publish('collect.user.user-1.purchase', JSON.stringify({
    ...seedBody, parameters: null, event_datetime: '2030-01-01T00:00:00.000000Z', received_at: '2030-01-01T00:00:00.000000Z'
  }), { headers: h, msgID: 'another-key' })
  const found = await app.inject({ url: `/api/event/user-1?min_seq=${late.seq}` })
  t.equal(found.json().items.length, 1)
  t.same(found.json().items[0].parameters, seedBody.parameters, 'the first copy wins')
  const row = await runtime.db.selectFrom('collect_events').select(eb => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(row.n), 1)
})
