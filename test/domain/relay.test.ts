import t from 'tap'
import {
  callbackPayloadOf, callbackUrlOf, evolveRelay, storeBody, targetUrlOf, type RelayState
} from '../../src/domain/relay.js'
import { Events, type EventData, type EventDefinition } from '../../src/schema/events/index.js'
import type { StoredEvent } from '../../src/store/events.js'
import { parseIsoDuration, toIsoDuration } from '../../src/lib/iso-duration.js'

let seq = 0
function ev<D extends EventDefinition> (def: D, data: EventData<D>): StoredEvent {
  seq++
  return { seq, natsSubject: 'relay.requests.r1', id: `id-${seq}`, type: def.type, version: def.version, source: '/t', time: new Date(seq * 1000).toISOString(), data }
}

t.test('targetURL + targetAPI as the seed joins them', async t => {
  t.equal(targetUrlOf('http://192.0.2.10:30000', '/sync_tasks/abcdevflake'), 'http://192.0.2.10:30000/sync_tasks/abcdevflake')
  t.equal(targetUrlOf('http://h/', '/x'), 'http://h/x')
  t.equal(targetUrlOf('http://h', 'x'), 'http://h/x')
  t.equal(targetUrlOf('http://h/api', '?q=1'), 'http://h/api?q=1')
  t.equal(targetUrlOf('http://h', ''), 'http://h')
})

t.test('the callback URL: callback_uri, or callback-url + callback-api', async t => {
  t.equal(callbackUrlOf({ callback_uri: 'http://a/event/callback', host: 'x' }), 'http://a/event/callback')
  t.equal(callbackUrlOf({ 'callback-url': 'http://send-cloudevent:8000', 'callback-api': '/event/callback' }), 'http://send-cloudevent:8000/event/callback')
  t.equal(callbackUrlOf({ 'callback-url': 'http://b' }), 'http://b')
  t.equal(callbackUrlOf({ type: '10' }), undefined)
  t.equal(callbackUrlOf('text'), undefined)
  t.equal(callbackUrlOf(undefined), undefined)
})

t.test('ISO 8601 durations', async t => {
  t.equal(parseIsoDuration('PT0.2S'), 200)
  t.equal(parseIsoDuration('PT1M30S'), 90_000)
  t.equal(parseIsoDuration('P1DT2H'), 93_600_000)
  t.equal(parseIsoDuration('P2W'), 14 * 86_400_000)
  t.equal(parseIsoDuration('PT'), undefined)
  t.equal(parseIsoDuration('P1M'), undefined, 'months have no fixed length')
  t.equal(parseIsoDuration('1s'), undefined)
  t.equal(toIsoDuration(1500), 'PT1.5S')
})

t.test('bodies as events keep them', async t => {
  t.same(storeBody(Buffer.from('{"a":1}'), 'application/json', 100), { body: { a: 1 }, bodyEncoding: 'json', bodyBytes: 7, bodyTruncated: false })
  t.same(storeBody(Buffer.from('hello'), 'text/plain', 100), { body: 'hello', bodyEncoding: 'text', bodyBytes: 5, bodyTruncated: false })
  t.same(storeBody(Buffer.from([0, 255]), 'application/octet-stream', 100), { body: 'AP8=', bodyEncoding: 'base64', bodyBytes: 2, bodyTruncated: false })
  t.same(storeBody(Buffer.from('{"a":"long"}'), 'application/json', 4), { body: '{"a"', bodyEncoding: 'text', bodyBytes: 12, bodyTruncated: true }, 'cut JSON is text')
  t.same(storeBody(Buffer.alloc(0), undefined, 4), { body: null, bodyEncoding: 'none', bodyBytes: 0, bodyTruncated: false })
})

t.test('an /async request folded from its events: rounds, attempts, outcome, callback', async t => {
  const delivery = { retry: 1, backoffPolicy: 'exponential' as const, backoffDelayMs: 100, timeoutMs: 1000 }
  const requested = ev(Events.relayRequested, { requestId: 'r1', targetURL: 'http://t', targetAPI: '/x', url: 'http://t/x', method: 'POST', headers: {}, body: { a: 1 }, callbackUrl: 'http://cb', delivery, requestedAt: '2030-01-01T00:00:00.000Z' })
  const round = requested.seq
  const history = [
    requested,
    ev(Events.relayAttemptFailed, { requestId: 'r1', round, attempt: 1, at: '2030-01-01T00:00:01.000Z', durationMs: 5, status: 500, error: 'the target answered 500', nextAttemptAt: '2030-01-01T00:00:01.100Z', backoffMs: 100 }),
    ev(Events.relayFailed, { requestId: 'r1', round, attempt: 2, at: '2030-01-01T00:00:02.000Z', durationMs: 5, status: 500, error: 'the target answered 500', reason: 'exhausted', dlqSeq: 7 })
  ]
  let state: RelayState | undefined
  for (const e of history) state = evolveRelay(state, e)
  t.match(state, { status: 'dead-lettered', roundAttempts: 2, dlqSeq: 7, callback: { url: 'http://cb', status: 'pending', roundAttempts: 0 } })
  t.same(callbackPayloadOf(state!), { requestId: 'r1', outcome: 'dead-lettered', status: null, headers: {}, body: null, attempts: 2, error: { message: 'the target answered 500' } })
  state = evolveRelay(state, ev(Events.relayCallbackSent, { requestId: 'r1', round, url: 'http://cb', attempt: 1, at: '2030-01-01T00:00:03.000Z', durationMs: 3, status: 200, webhookId: 'w' }))
  t.match(state, { callback: { status: 'sent', webhookId: 'w' } })

  // a replay from the DLQ is the same relay.requested again: a new round
  const replay = { ...requested, seq: ++seq }
  state = evolveRelay(state, replay)
  t.match(state, { status: 'pending', round: replay.seq, rounds: 2, roundAttempts: 0, callback: { status: 'none' } })
  t.notOk('dlqSeq' in state!)
  const response = { status: 200, headers: { 'content-type': 'application/json' }, body: { ok: 1 }, bodyEncoding: 'json' as const, bodyBytes: 8, bodyTruncated: false }
  // an event of the old round that lands late changes nothing but the version
  state = evolveRelay(state, ev(Events.relayDelivered, { requestId: 'r1', round, attempt: 3, at: '2030-01-01T00:00:04.000Z', durationMs: 1, response }))
  t.equal(state!.status, 'pending')
  state = evolveRelay(state, ev(Events.relayDelivered, { requestId: 'r1', round: replay.seq, attempt: 1, at: '2030-01-01T00:00:05.000Z', durationMs: 1, response }))
  t.match(state, { status: 'delivered', roundAttempts: 1, response, callback: { status: 'pending' } })
  t.same(callbackPayloadOf(state!), { requestId: 'r1', outcome: 'delivered', status: 200, headers: { 'content-type': 'application/json' }, body: { ok: 1 }, attempts: 1 })
  t.same(state!.attempts.map(a => [a.to, a.round === round ? 1 : 2, a.attempt, a.status]), [['target', 1, 1, 500], ['target', 1, 2, 500], ['callback', 1, 1, 200], ['target', 2, 1, 200]])
})
