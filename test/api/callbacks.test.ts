import t from 'tap'
import { randomBytes } from 'node:crypto'
import { EventSource } from 'eventsource'
import { Webhook } from 'standardwebhooks'
import { startService, post } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { until } from '../fixtures/wait.js'

// The seed's callback receiver, /event/callback: Jetway's own signed callbacks coming back to
// it, callbacks from targets, the list, and the SSE feed with Last-Event-ID resume.

const secret = `whsec_${randomBytes(32).toString('base64')}`
const ENV = { RELAY_ALLOW: '127.0.0.0/8', WEBHOOK_SECRET: secret, TIMER_TICK: '50ms' }

t.test("the seed's loop: /async whose callback_uri is this service's /event/callback; the callback is recorded, matched and verified", async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end('{"task":"done"}')
  })
  const { app, url } = await startService(t, { listen: 0, env: ENV })
  const { requestId } = (await post(app, '/async', {
    targetURL: target.origin,
    targetAPI: '/callback_tasks',
    headers: { 'Content-type': 'application/json' },
    body: { callback_uri: `${url}/event/callback`, host: 'send-serving.default.example.com' }
  })).json()
  const list = await until('the callback', async () => {
    const items = (await app.inject({ url: `/event/callback/list?requestId=${requestId}` })).json().items
    return items.length > 0 ? items : undefined
  })
  t.match(list, [{
    method: 'POST',
    requestId,
    signature: 'valid',
    webhookId: `msg_relay_${requestId}_${String(list[0].webhookId).split('_').pop()}`,
    bodyEncoding: 'json',
    body: { requestId, outcome: 'delivered', status: 200, body: { task: 'done' }, attempts: 1 }
  }])
  t.equal(list[0].headers['content-type'], 'application/json')
})

t.test('callbacks from targets: POST and GET, matched by body, header or query; signatures checked; a redelivery recorded once', async t => {
  const { app } = await startService(t, { env: ENV })
  const byBody = await post(app, '/event/callback', { requestId: 'req-1', result: 'ok' }, { authorization: 'Bearer secret-token' })
  t.equal(byBody.statusCode, 200)
  t.match(byBody.json(), { received: true, seq: Number, requestId: 'req-1' })
  const byQuery = await app.inject({ method: 'GET', url: '/event/callback?requestId=req-2&status=done' })
  t.match(byQuery.json(), { requestId: 'req-2' })
  const byHeader = await app.inject({ method: 'POST', url: '/event/callback', headers: { 'content-type': 'text/plain', 'jetway-request-id': 'req-3' }, payload: 'plain text' })
  t.match(byHeader.json(), { requestId: 'req-3' })
  const nobody = await post(app, '/event/callback', { hello: 'world' })
  t.match(nobody.json(), { requestId: null })

  const body = JSON.stringify({ requestId: 'req-4' })
  const signed = new Webhook(secret).sign('msg_1', new Date(), body)
  const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': signed }
  const first = await app.inject({ method: 'POST', url: '/event/callback', headers, payload: body })
  const again = await app.inject({ method: 'POST', url: '/event/callback', headers, payload: body })
  t.equal(first.headers['jetway-duplicate'], 'false')
  t.equal(again.headers['jetway-duplicate'], 'true', 'the same webhook-id: recorded once')
  const forged = await app.inject({ method: 'POST', url: '/event/callback', headers: { ...headers, 'webhook-id': 'msg_2' }, payload: body })
  t.equal(forged.statusCode, 200, 'recorded, marked invalid')

  const all = (await app.inject({ url: `/event/callback/list?min_seq=${forged.json().seq as number}` })).json().items
  t.same(all.map((c: any) => [c.method, c.requestId, c.signature]), [
    ['POST', 'req-1', 'unsigned'], ['GET', 'req-2', 'unsigned'], ['POST', 'req-3', 'unsigned'], ['POST', null, 'unsigned'], ['POST', 'req-4', 'valid'], ['POST', 'req-4', 'invalid']
  ])
  t.equal(all[0].headers.authorization, '[redacted]', 'credentials are not kept')
  t.same(all[1].query, { requestId: 'req-2', status: 'done' })
  t.equal(all[1].body, null)
  t.equal(all[2].body, 'plain text')
  t.equal(all[2].bodyEncoding, 'text')
  t.same((await app.inject({ url: '/event/callback/list?requestId=req-4' })).json().items.length, 2)
  t.same((await app.inject({ url: `/event/callback/list?after=${all[3].seq as number}&limit=1` })).json().items.map((c: any) => c.seq), [all[4].seq])
})

t.test('GET /event/callback/sub streams callbacks; a reconnect with Last-Event-ID gets the rest with no gap and no duplicate', async t => {
  const { app, url } = await startService(t, { listen: 0, env: ENV })
  const received: { id: string, data: any }[] = []
  const open = (path: string, headers: Record<string, string> = {}): EventSource => {
    const es = new EventSource(`${url}${path}`, { fetch: async (input, init) => await fetch(input, { ...init, headers: { ...init?.headers, ...headers } }) })
    es.addEventListener('relay.callback.received', (e: MessageEvent) => { received.push({ id: e.lastEventId, data: JSON.parse(e.data) }) })
    t.teardown(() => es.close())
    return es
  }
  const first = open('/event/callback/sub')
  await until('the SSE connection', () => first.readyState === EventSource.OPEN ? true : undefined)
  await post(app, '/event/callback', { requestId: 'a', n: 1 })
  await until('the first callback', () => received.length === 1 ? true : undefined)
  first.close()
  await post(app, '/event/callback', { requestId: 'b', n: 2 })
  await post(app, '/event/callback', { requestId: 'a', n: 3 })
  open('/event/callback/sub', { 'last-event-id': received[0]!.id })
  await until('the rest', () => received.length === 3 ? true : undefined)
  t.same(received.map(r => r.data.body.n), [1, 2, 3])
  t.same(received.map(r => r.data.requestId), ['a', 'b', 'a'])
  t.ok(Number(received[1]!.id) > Number(received[0]!.id))

  // one request's callbacks, from the start
  const mine: number[] = []
  const es = new EventSource(`${url}/event/callback/sub?requestId=a`)
  es.addEventListener('relay.callback.received', (e: MessageEvent) => { mine.push(JSON.parse(e.data).body.n) })
  t.teardown(() => es.close())
  await until("request a's callbacks", () => mine.length === 2 ? true : undefined)
  t.same(mine, [1, 3])
})
