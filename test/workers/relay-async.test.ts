import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { startService, post } from '../fixtures/service.js'
import { httpTarget, type Received } from '../fixtures/http-target.js'
import { listDeadLetters } from '../../src/workers/dead-letters.js'
import { until } from '../fixtures/wait.js'

// POST /async against loopback targets: attempts, retries by policy (durable timers), the
// signed callback in both of the seed's spellings, dead letters and their replay.

const run = promisify(execFile)
const secret = `whsec_${randomBytes(32).toString('base64')}`
const ENV = { RELAY_ALLOW: '127.0.0.0/8', WEBHOOK_SECRET: secret, TIMER_TICK: '50ms', OUTBOUND_TIMEOUT: '2s' }
const FAST = { retry: 3, backoffDelay: 'PT0.1S' }

async function statusOf (app: FastifyInstance, id: string, done: (s: any) => boolean): Promise<any> {
  return await until(`request ${id}`, async () => {
    const res = await app.inject({ url: `/async/${id}` })
    if (res.statusCode !== 200) return undefined
    const s = res.json()
    return done(s) ? s : undefined
  })
}

async function received (target: { received: Received[] }, n: number): Promise<Received[]> {
  return await until(`${n} requests at the target`, async () => target.received.length >= n ? target.received : undefined)
}

t.test('async with callback_uri: 202 {requestId}, the target gets the call, the callback gets the signed outcome', async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = 200
    res.setHeader('content-type', 'application/json')
    res.setHeader('x-answer', '42')
    res.end('{"done":true}')
  })
  const callback = await httpTarget(t)
  const { app } = await startService(t, { env: ENV })
  // the seed's post_async_tasks.json, with the callback pointing at a local receiver
  const res = await post(app, '/async', {
    targetURL: target.origin,
    targetAPI: '/callback_tasks',
    headers: { 'Content-type': 'application/json', Header1: 'Header1', Header2: 'Header2' },
    body: { callback_uri: `${callback.origin}/event/callback`, host: 'send-serving.default.example.com' }
  })
  t.equal(res.statusCode, 202)
  const { requestId } = res.json()
  t.match(requestId, /^[0-9a-f-]{36}$/)
  t.equal(res.headers.location, `/async/${requestId}`)

  const [call] = await received(target, 1)
  t.equal(call!.method, 'POST')
  t.equal(call!.url, '/callback_tasks')
  t.equal(call!.headers.header1, 'Header1')
  t.same(JSON.parse(call!.body.toString()), { callback_uri: `${callback.origin}/event/callback`, host: 'send-serving.default.example.com' })
  t.equal(call!.headers['idempotency-key'], `relay-${requestId}-${call!.headers['idempotency-key']!.toString().split('-').pop()}`)

  const [cb] = await received(callback, 1)
  t.equal(cb!.url, '/event/callback')
  const payload = new Webhook(secret).verify(cb!.body.toString(), cb!.headers as Record<string, string>)
  t.same(payload, { requestId, outcome: 'delivered', status: 200, headers: { 'content-type': 'application/json', 'x-answer': '42', 'content-length': '13', date: (payload as any).headers.date }, body: { done: true }, attempts: 1 })
  t.equal(cb!.headers['jetway-request-id'], requestId)

  const status = await statusOf(app, requestId, s => s.callback.status === 'sent')
  t.match(status, {
    requestId,
    status: 'delivered',
    url: `${target.origin}/callback_tasks`,
    attemptCount: 1,
    response: { status: 200, body: { done: true } },
    callback: { url: `${callback.origin}/event/callback`, status: 'sent', attemptCount: 1, webhookId: cb!.headers['webhook-id'] }
  })
  t.same(status.attempts.map((a: any) => [a.to, a.attempt, a.status]), [['target', 1, 200], ['callback', 1, 200]])
})

t.test('async with callback-url + callback-api; 500 twice then 200 is delivered on the third attempt with the backoff recorded', async t => {
  let calls = 0
  const target = await httpTarget(t, (_req, res) => {
    calls++
    res.statusCode = calls <= 2 ? 500 : 200
    res.end(calls <= 2 ? 'busy' : 'ok')
  })
  const callback = await httpTarget(t)
  const { app } = await startService(t, { env: ENV })
  const res = await post(app, '/async', {
    targetURL: target.origin,
    targetAPI: '/tasks',
    headers: {},
    body: { 'callback-url': callback.origin, 'callback-api': '/event/callback', parameter2: 'parameter2' },
    delivery: FAST
  })
  const { requestId } = res.json()
  const status = await statusOf(app, requestId, s => s.callback.status === 'sent')
  t.equal(status.status, 'delivered')
  t.equal(status.attemptCount, 3)
  const tries = status.attempts.filter((a: any) => a.to === 'target')
  t.same(tries.map((a: any) => a.status), [500, 500, 200])
  t.match(tries[0], { error: 'the target answered 500: busy', nextAttemptAt: String })
  t.ok(Date.parse(tries[0].nextAttemptAt) - Date.parse(tries[0].at) >= 100, 'first backoff: PT0.1S')
  t.ok(Date.parse(tries[1].nextAttemptAt) - Date.parse(tries[1].at) >= 200, 'second backoff doubles')
  t.ok(Date.parse(tries[1].at) >= Date.parse(tries[0].nextAttemptAt), 'the retry waited for its due time')
  t.equal(target.received.length, 3)
  const [cb] = await received(callback, 1)
  t.equal(cb!.url, '/event/callback')
  t.match(new Webhook(secret).verify(cb!.body.toString(), cb!.headers as Record<string, string>), { requestId, outcome: 'delivered', status: 200, body: 'ok', bodyEncoding: 'text', attempts: 3 })
  t.equal(callback.received.length, 1, 'one callback')
})

t.test('a 400 is not retried: failed after one attempt, and the callback says so', async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = 400
    res.setHeader('content-type', 'application/json')
    res.end('{"error":"bad"}')
  })
  const callback = await httpTarget(t)
  const { app } = await startService(t, { env: ENV })
  const { requestId } = (await post(app, '/async', { targetURL: target.origin, targetAPI: '/x', headers: {}, body: { callback_uri: callback.origin }, delivery: FAST })).json()
  const status = await statusOf(app, requestId, s => s.callback.status === 'sent')
  t.match(status, { status: 'failed', attemptCount: 1, deadLetter: null, response: { status: 400, body: { error: 'bad' } }, error: { message: /answered 400/ } })
  t.equal(target.received.length, 1, 'one attempt only')
  const [cb] = await received(callback, 1)
  t.match(JSON.parse(cb!.body.toString()), { requestId, outcome: 'failed', status: 400, body: { error: 'bad' }, attempts: 1 })
})

t.test('a refused target (SSRF guard) is a recorded failure, not retried, no connection made', async t => {
  const target = await httpTarget(t)
  const { app } = await startService(t, { env: { ...ENV, RELAY_ALLOW: '' } })
  const { requestId } = (await post(app, '/async', { targetURL: `http://127.0.0.1:${target.port}`, targetAPI: '/x', headers: {}, body: {}, delivery: FAST })).json()
  const status = await statusOf(app, requestId, s => s.status !== 'pending')
  t.match(status, { status: 'failed', attemptCount: 1, error: { code: 'JETWAY_OUTBOUND_REFUSED' } })
  t.equal(target.connections(), 0)
})

t.test('a target always 500 is dead-lettered after its retries, and replayed with npm run dlq once fixed', async t => {
  let fixed = false
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = fixed ? 200 : 500
    res.end()
  })
  const callback = await httpTarget(t)
  const { app, runtime, natsUrl, dataDir } = await startService(t, { env: ENV })
  const { requestId } = (await post(app, '/async', { targetURL: target.origin, targetAPI: '/x', headers: {}, body: { callback_uri: callback.origin }, delivery: { retry: 2, backoffDelay: 'PT0.05S' } })).json()
  const dead = await statusOf(app, requestId, s => s.callback.status === 'sent')
  t.match(dead, { status: 'dead-lettered', attemptCount: 3, deadLetter: { dlqSeq: Number }, error: { message: 'the target answered 500' } })
  t.equal(target.received.length, 3)
  const [first] = await received(callback, 1)
  t.match(JSON.parse(first!.body.toString()), { requestId, outcome: 'dead-lettered', status: 500, attempts: 3 })

  const letters = await listDeadLetters(runtime.jsm)
  t.match(letters, [{ dlqSeq: dead.deadLetter.dlqSeq, stream: 'RELAY', consumer: 'relay-delivery', subject: `relay.requests.${requestId}`, deliveries: 3, headers: { 'ce-type': 'relay.requested' } }])

  fixed = true
  const env = { ...process.env, NATS_URL: natsUrl, DATA_DIR: dataDir }
  const replayed = await run(process.execPath, ['--import', 'tsx', 'scripts/dlq.ts', 'replay', String(dead.deadLetter.dlqSeq)], { env })
  t.match(replayed.stdout, `onto relay.requests.${requestId}`)
  const again = await statusOf(app, requestId, s => s.rounds === 2 && s.callback.status === 'sent')
  t.match(again, { status: 'delivered', attemptCount: 1, deadLetter: null, error: null })
  t.equal(target.received.length, 4)
  const [, second] = await received(callback, 2)
  t.match(JSON.parse(second!.body.toString()), { requestId, outcome: 'delivered', status: 200, attempts: 1 })
  t.not(second!.headers['webhook-id'], first!.headers['webhook-id'], 'a new round is a new delivery')
})

t.test('bad /async bodies are 400', async t => {
  const { app } = await startService(t, { env: ENV })
  t.equal((await post(app, '/async', { targetURL: 'http://127.0.0.1:1', targetAPI: '/x', delivery: { backoffDelay: 'soon' } })).statusCode, 400)
  t.equal((await post(app, '/async', { targetURL: 'http://127.0.0.1:1', targetAPI: '/x', body: { callback_uri: 'nope' } })).statusCode, 400)
  t.equal((await app.inject({ url: '/async/nope' })).statusCode, 404)
})
