import t from 'tap'
import { gzipSync } from 'node:zlib'
import { Writable } from 'node:stream'
import { startService, post, seqOf } from '../fixtures/service.js'
import { decodeEvent } from '../../src/store/events.js'

// The Segment HTTP tracking API over inject(): each message type's mapping onto the collector's
// event (found by the seed's searches, with anonymousId, context and integrations), the write
// keys, Segment's limits, a bad message refused alone, the encodings the SDKs send, and
// idempotency per user and messageId. The real SDKs: tracking-sdks.test.ts.

const KEY = 'wk_test_0123456789'
const basic = (key: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` })

t.test('each message type becomes a collected event the searches return with its SDK fields', async t => {
  const { app, runtime } = await startService(t)
  const context = { library: { name: 'test', version: '1' }, ip: '10.0.0.1' }
  const sends: Array<[string, object]> = [
    ['/v1/track', { userId: 'ann', anonymousId: 'anon-1', event: 'Order Completed', properties: { order_id: 'o1', currency: 'EUR', price: 12.5 }, messageId: 'm-track', context, integrations: { All: false, Mixpanel: true }, timestamp: '2024-03-01T10:00:00.123Z' }],
    ['/v1/identify', { userId: 'ann', traits: { email: 'ann@example.com' }, messageId: 'm-identify', timestamp: '2024-03-01T10:00:01Z' }],
    ['/v1/page', { userId: 'ann', name: 'Pricing', properties: { url: 'https://example.com/pricing' }, messageId: 'm-page', timestamp: '2024-03-01T10:00:02Z' }],
    ['/v1/page', { userId: 'ann', messageId: 'm-page-unnamed', timestamp: '2024-03-01T10:00:03Z' }],
    ['/v1/screen', { userId: 'ann', name: 'Home', messageId: 'm-screen', timestamp: '2024-03-01T10:00:04Z' }],
    ['/v1/group', { userId: 'ann', groupId: 'acme', traits: { plan: 'pro' }, messageId: 'm-group', timestamp: '2024-03-01T10:00:05Z' }],
    ['/v1/alias', { userId: 'ann', previousId: 'anon-1', messageId: 'm-alias', timestamp: '2024-03-01T10:00:06Z' }]
  ]
  let last = ''
  for (const [url, body] of sends) {
    const r = await post(app, url, body)
    t.equal(r.statusCode, 200, url)
    t.same(r.json(), { success: true })
    t.equal(r.headers['jetway-duplicate'], 'false')
    last = r.headers['jetway-seq'] as string
  }
  const anonymous = await post(app, '/v1/track', { anonymousId: 'anon-2', event: 'Viewed', messageId: 'm-anon' })
  t.equal(anonymous.statusCode, 200)

  const items = (await app.inject({ url: `/api/event/ann?min_seq=${last}` })).json().items
  t.same(items, [
    { event_id: 'm-track', event: 'Order Completed', user_id: 'ann', event_datetime: '2024-03-01T10:00:00.123000Z', parameters: { order_id: 'o1', currency: 'EUR', price: 12.5 }, anonymous_id: 'anon-1', context, integrations: { All: false, Mixpanel: true } },
    { event_id: 'm-identify', event: 'identify', user_id: 'ann', event_datetime: '2024-03-01T10:00:01.000000Z', parameters: { email: 'ann@example.com' } },
    { event_id: 'm-page', event: 'page:Pricing', user_id: 'ann', event_datetime: '2024-03-01T10:00:02.000000Z', parameters: { url: 'https://example.com/pricing' } },
    { event_id: 'm-page-unnamed', event: 'page', user_id: 'ann', event_datetime: '2024-03-01T10:00:03.000000Z', parameters: null },
    { event_id: 'm-screen', event: 'screen:Home', user_id: 'ann', event_datetime: '2024-03-01T10:00:04.000000Z', parameters: null },
    { event_id: 'm-group', event: 'group', user_id: 'ann', event_datetime: '2024-03-01T10:00:05.000000Z', parameters: { plan: 'pro', groupId: 'acme' } },
    { event_id: 'm-alias', event: 'alias', user_id: 'ann', event_datetime: '2024-03-01T10:00:06.000000Z', parameters: { previousId: 'anon-1' } }
  ])
  // the seed's filters work on them
  t.same((await app.inject({ url: '/api/event?user_id=ann&event=page:Pricing' })).json().items.map((i: { event_id: string }) => i.event_id), ['m-page'])
  const anon = (await app.inject({ url: `/api/event/anon-2?min_seq=${seqOf(anonymous)}` })).json().items
  t.match(anon, [{ event_id: 'm-anon', user_id: 'anon-2', anonymous_id: 'anon-2', event: 'Viewed' }])

  // the event itself: v2, on the user's subject, the message type and the times kept
  const stored = decodeEvent((await runtime.jsm.streams.getMessage('COLLECT', { seq: 1 }))!)
  t.match(stored, { type: 'collect.event.received', version: 2, natsSubject: 'collect.user.ann.Order%20Completed', source: '/jetway/collect/v1' })
  t.match(stored.data, { sdk: { type: 'track', timestamp: '2024-03-01T10:00:00.123Z', sent_at: null } })
})

t.test('the seed\'s own events answer exactly as before, beside SDK events', async t => {
  const { app } = await startService(t)
  await post(app, '/api/collect', { event_id: 'seed-1', event: 'purchase', user_id: 'bo', event_datetime: '2024-01-01T00:00:00Z', parameters: { price: 1 } })
  const r = await post(app, '/v1/track', { userId: 'bo', event: 'purchase', messageId: 'sdk-1', timestamp: '2024-01-01T00:00:01Z', context: { a: 1 } })
  const body = (await app.inject({ url: `/api/event/bo?min_seq=${r.headers['jetway-seq'] as string}` })).body
  t.equal(body, '{"items":[' +
    '{"event_id":"seed-1","event":"purchase","user_id":"bo","event_datetime":"2024-01-01T00:00:00.000000Z","parameters":{"price":1}},' +
    '{"event_id":"sdk-1","event":"purchase","user_id":"bo","event_datetime":"2024-01-01T00:00:01.000000Z","parameters":null,"context":{"a":1}}' +
    '],"next_cursor":null}')
})

t.test('clock skew: timestamp + (receivedAt − sentAt), from the message\'s sentAt or the batch\'s', async t => {
  const { app } = await startService(t)
  const day = 86_400_000
  // the sender's clock runs a day ahead: its timestamp is a day late too
  const ahead = new Date(Date.now() + day).toISOString()
  const r = await post(app, '/v1/batch', {
    sentAt: ahead,
    batch: [
      { type: 'track', userId: 'sk', event: 'a', messageId: 's1', timestamp: '2024-05-02T12:00:00.000Z' },
      { type: 'track', userId: 'sk', event: 'b', messageId: 's2', originalTimestamp: '2024-05-02T12:00:00.000Z', sentAt: new Date(Date.now() - day).toISOString() },
      { type: 'track', userId: 'sk', event: 'c', messageId: 's3' }
    ]
  })
  t.equal(r.statusCode, 200)
  const items = (await app.inject({ url: `/api/event/sk?min_seq=${r.headers['jetway-seq'] as string}` })).json().items as Array<{ event: string, event_datetime: string }>
  const at = (event: string): number => Date.parse(items.find(i => i.event === event)!.event_datetime.slice(0, 23) + 'Z')
  const off = (ms: number): number => Math.abs(ms)
  t.ok(off(at('a') - Date.parse('2024-05-01T12:00:00Z')) < 60_000, 'a day earlier by the batch\'s sentAt')
  t.ok(off(at('b') - Date.parse('2024-05-03T12:00:00Z')) < 60_000, 'a day later by its own sentAt')
  t.ok(off(at('c') - Date.now()) < 60_000, 'no timestamp: when received')
  const bad = await post(app, '/v1/batch', { sentAt: 'yesterday', batch: [] })
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors, [{ field: 'sentAt', message: 'must be an ISO 8601 date-time' }])
})

t.test('write keys: Basic user or writeKey in the body; none or an unknown one is 401', async t => {
  const { app, runtime } = await startService(t, { env: { COLLECT_WRITE_KEYS: `other-key-1, ${KEY}` } })
  const msg = { userId: 'kim', event: 'e', messageId: 'k1' }
  const none = await post(app, '/v1/track', msg)
  t.equal(none.statusCode, 401)
  t.equal(none.headers['content-type'], 'application/problem+json')
  t.match(none.json(), { code: 'JETWAY_UNAUTHORIZED', success: false, detail: /HTTP Basic user name/ })
  t.equal((await post(app, '/v1/track', msg, basic('wrong-key-00'))).statusCode, 401)
  t.equal((await post(app, '/v1/batch', { batch: [{ type: 'track', ...msg }], writeKey: 'wrong-key-00' })).statusCode, 401)
  t.equal((await post(app, '/v1/track', msg, { authorization: 'Bearer x.y.z' })).statusCode, 401, 'a token is not a write key')
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 0, 'nothing stored')

  t.equal((await post(app, '/v1/track', msg, basic(KEY))).statusCode, 200)
  t.equal((await post(app, '/v1/track', { ...msg, messageId: 'k2' }, { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` })).statusCode, 200, 'encoded without the colon')
  t.equal((await post(app, '/v1/batch', { batch: [{ type: 'track', ...msg, messageId: 'k3' }], writeKey: KEY })).statusCode, 200)
  t.equal((await post(app, '/v1/track', { ...msg, messageId: 'k4', writeKey: 'other-key-1' })).statusCode, 200)
  const stored = decodeEvent((await runtime.jsm.streams.getMessage('COLLECT', { seq: 1 }))!)
  t.match(stored.actor, /^write-key:[0-9a-f]{8}$/, 'the actor names the key by a hash')
  t.notMatch(JSON.stringify(stored), KEY, 'the key is stored nowhere in the event')
})

t.test('AUTH_MODE=jwt without COLLECT_WRITE_KEYS: no /v1 route, and the log says why', async t => {
  const lines: string[] = []
  const logTo = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: 'a-secret-of-enough-length', LOG_LEVEL: 'warn' }, logTo })
  t.equal((await post(app, '/v1/batch', { batch: [] })).statusCode, 404)
  t.ok(lines.some(l => /without COLLECT_WRITE_KEYS: the analytics SDK routes .* are not served/.test(l)), 'logged')
  const withKeys = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: 'a-secret-of-enough-length', COLLECT_WRITE_KEYS: KEY } })
  t.equal((await post(withKeys.app, '/v1/batch', { batch: [] }, basic(KEY))).statusCode, 200)
})

t.test('limits: 32 KB a message (named, the rest stored; alone, a 400), 500 KB a request (413)', async t => {
  const { app, runtime } = await startService(t)
  const big = { type: 'track', userId: 'lim', event: 'big', messageId: 'big', properties: { note: 'x'.repeat(33 * 1024) } }
  const r = await post(app, '/v1/batch', { batch: [{ type: 'track', userId: 'lim', event: 'ok', messageId: 'ok1' }, big, { type: 'track', userId: 'lim', event: 'ok', messageId: 'ok2' }] })
  t.equal(r.statusCode, 200, 'two stored: not a 4xx, which stores nothing')
  t.match(r.json(), { success: false, accepted: 2, duplicates: 0, rejected: 1 })
  t.match(r.json().errors, [{ field: 'batch.1', message: /bytes of JSON; a message may have at most 32 KB \(32,768 bytes\)/ }])
  t.equal(r.json().errors.length, 1)
  const items = (await app.inject({ url: `/api/event/lim?min_seq=${r.headers['jetway-seq'] as string}` })).json().items
  t.same(items.map((i: { event_id: string }) => i.event_id), ['ok1', 'ok2'])

  const alone = await post(app, '/v1/batch', { batch: [big] })
  t.equal(alone.statusCode, 400, 'a batch refused whole')
  t.equal(alone.headers['content-type'], 'application/problem+json')
  t.match(alone.json(), { code: 'JETWAY_VALIDATION', success: false, detail: /^every message refused: batch\.0 is 3\d,\d{3} bytes of JSON/, errors: [{ field: 'batch.0' }] })

  const single = await post(app, '/v1/track', { userId: 'lim', event: 'big', properties: { note: 'x'.repeat(33 * 1024) } })
  t.equal(single.statusCode, 400)
  t.match(single.json().errors, [{ field: '(body)', message: /at most 32 KB/ }])

  const whole = await post(app, '/v1/batch', { batch: Array.from({ length: 20 }, (_, i) => ({ type: 'track', userId: 'lim', event: 'e', messageId: `w${i}`, properties: { note: 'x'.repeat(30 * 1024) } })) })
  t.equal(whole.statusCode, 413)
  t.equal(whole.json().success, false)
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 2, 'nothing of the refused requests stored')
})

t.test('a bad message is refused alone, naming its fields; the good ones are stored and the answer says which were refused', async t => {
  const { app } = await startService(t)
  const r = await post(app, '/v1/batch', {
    batch: [
      { type: 'track', userId: 'bad', event: 'fine', messageId: 'g1' },
      { type: 'track', userId: 'bad', messageId: 'b1' },
      { type: 'shout', userId: 'bad' },
      { type: 'identify', messageId: 'b2' },
      { type: 'track', userId: 'bad', event: 'e', messageId: 'b3', properties: { price: 'free' } },
      'not a message',
      { type: 'page', userId: 'bad', name: 'n'.repeat(60), messageId: 'b4' },
      { type: 'group', userId: 'bad', messageId: 'b5' },
      { type: 'track', userId: 'bad', event: 'e', messageId: 'b6', timestamp: 'noon' },
      { type: 'identify', userId: 'bad', messageId: 'g2' }
    ]
  })
  t.equal(r.statusCode, 200)
  t.match(r.json(), { success: false, accepted: 2, duplicates: 0, rejected: 8 })
  t.same(r.json().errors, [
    { field: 'batch.1.event', message: 'is required' },
    { field: 'batch.2.type', message: 'must be one of track, identify, page, screen, group, alias' },
    { field: 'batch.3.userId', message: 'is required (or anonymousId)' },
    { field: 'batch.4.properties.price', message: 'must be number' },
    { field: 'batch.5.type', message: 'must be one of track, identify, page, screen, group, alias' },
    { field: 'batch.6.name', message: `makes the event name "page:${'n'.repeat(60)}", longer than 64 characters` },
    { field: 'batch.7.groupId', message: 'is required' },
    { field: 'batch.8.timestamp', message: 'must be an ISO 8601 date-time' }
  ])
  const items = (await app.inject({ url: `/api/event/bad?min_seq=${r.headers['jetway-seq'] as string}` })).json().items
  t.same(items.map((i: { event_id: string }) => i.event_id).sort(), ['g1', 'g2'])

  const single = await post(app, '/v1/identify', { traits: { a: 1 } })
  t.equal(single.statusCode, 400)
  t.same(single.json().errors, [{ field: 'userId', message: 'is required (or anonymousId)' }])
  t.equal((await post(app, '/v1/batch', { batch: 'x' })).statusCode, 400)
  const deep = await app.inject({ method: 'POST', url: '/v1/batch', headers: { 'content-type': 'application/json' }, payload: `{"batch":[${'['.repeat(20_000)}${']'.repeat(20_000)}]}` })
  t.equal(deep.statusCode, 400, 'JSON too deep to store: a 400, not a 500')
  t.same(deep.json().errors, [{ field: '(body)', message: 'is nested too deeply' }], 'the one nesting rule of every body, at the edge')
  t.equal((await post(app, '/v1/batch', { batch: Array.from({ length: 2501 }, () => ({})) })).json().errors[0].field, 'batch')
})

t.test('encodings the SDKs send: gzip, text/plain, x-www-form-urlencoded; a broken gzip is a 400', async t => {
  const { app, runtime } = await startService(t)
  const body = (id: string): string => JSON.stringify({ batch: [{ type: 'track', userId: 'enc', event: 'e', messageId: id }] })
  const gz = await app.inject({ method: 'POST', url: '/v1/batch', payload: gzipSync(body('gz')), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' } })
  t.equal(gz.statusCode, 200, gz.body)
  const text = await app.inject({ method: 'POST', url: '/v1/batch', payload: body('text'), headers: { 'content-type': 'text/plain' } })
  t.equal(text.statusCode, 200, text.body)
  const broken = await app.inject({ method: 'POST', url: '/v1/batch', payload: Buffer.from('not gzip at all'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
  t.equal(broken.statusCode, 400)
  t.match(broken.json(), { detail: /not valid gzip/ })
  const br = await app.inject({ method: 'POST', url: '/v1/batch', payload: body('br'), headers: { 'content-type': 'application/json', 'content-encoding': 'br' } })
  t.equal(br.statusCode, 415)
  // a bomb: 600 KB of JSON in a few KB of gzip is refused by the decoded size
  const bomb = gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'enc', event: 'e', properties: { x: ' '.repeat(600 * 1024) } }] }))
  t.ok(bomb.length < 10 * 1024)
  const boom = await app.inject({ method: 'POST', url: '/v1/batch', payload: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
  t.equal(boom.statusCode, 413)
  t.equal(await app.inject({ method: 'POST', url: '/v1/batch', payload: '{"batch": [', headers: { 'content-type': 'text/plain' } }).then(r => r.statusCode), 400)
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 2)
})

t.test('idempotent per user and messageId, across /v1 and /api/collect; the same id of two users is two events', async t => {
  const { app, runtime } = await startService(t)
  const batch = { batch: [{ type: 'track', userId: 'id1', event: 'e', messageId: 'same' }, { type: 'track', userId: 'id2', event: 'e', messageId: 'same' }] }
  t.equal((await post(app, '/v1/batch', batch)).statusCode, 200)
  const again = await post(app, '/v1/batch', batch)
  t.equal(again.statusCode, 200)
  const single = await post(app, '/v1/track', { userId: 'id1', event: 'e', messageId: 'same' })
  t.equal(single.headers['jetway-duplicate'], 'true')
  const seed = await post(app, '/api/collect', { event_id: 'same', event: 'e', user_id: 'id1' })
  t.equal(seed.headers['jetway-duplicate'], 'true', 'the seed\'s event_id and an SDK\'s messageId are one id')
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 2)
  // without a messageId each message is new (Segment gives it one)
  const r = await post(app, '/v1/batch', { batch: [{ type: 'track', userId: 'id3', event: 'e' }, { type: 'track', userId: 'id3', event: 'e' }] })
  const items = (await app.inject({ url: `/api/event/id3?min_seq=${r.headers['jetway-seq'] as string}` })).json().items as Array<{ event_id: string }>
  t.equal(items.length, 2)
  t.ok(items.every(i => /^api-[0-9a-f-]{36}$/.test(i.event_id)))
})
