import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { startService, post } from '../fixtures/service.js'
import { httpTarget, type Received } from '../fixtures/http-target.js'
import { walkSubject } from '../../src/store/subject-reader.js'
import { decodeEvent } from '../../src/store/events.js'
import { listDeadLetters } from '../../src/workers/dead-letters.js'
import type { Runtime } from '../../src/runtime.js'
import { until } from '../fixtures/wait.js'

// Triggers: Knative's filter, subscriber and delivery spec over stream RELAY. Loopback
// subscribers; the waits are on what arrives, never on fixed times.

const run = promisify(execFile)
const secret = `whsec_${randomBytes(32).toString('base64')}`
const ENV = { RELAY_ALLOW: '127.0.0.0/8', WEBHOOK_SECRET: secret, TIMER_TICK: '50ms', OUTBOUND_TIMEOUT: '5s' }

async function arrived (target: { received: Received[] }, n: number, what = `${n} deliveries`): Promise<Received[]> {
  return await until(what, () => target.received.length >= n ? target.received : undefined)
}

/** One broker event in structured mode. */
async function emit (app: FastifyInstance, id: string, type: string, subject?: string, extra: Record<string, unknown> = {}): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: '/event',
    headers: { 'content-type': 'application/cloudevents+json' },
    payload: JSON.stringify({ specversion: '1.0', id, source: '/tests', type, ...(subject === undefined ? {} : { subject }), data: { id }, ...extra })
  })
  if (res.statusCode !== 202) throw new Error(`POST /event answered ${res.statusCode}: ${res.body}`)
  return res.json().events[0].seq
}

async function createTrigger (app: FastifyInstance, body: unknown): Promise<void> {
  const res = await post(app, '/api/triggers', body)
  if (res.statusCode !== 201) throw new Error(`POST /api/triggers answered ${res.statusCode}: ${res.body}`)
}

/** Waits until the trigger's dispatcher runs in this instance (it holds the trigger's lease). */
async function dispatching (runtime: Runtime, name: string): Promise<void> {
  await until(`trigger ${name} dispatching`, () => runtime.triggers?.dispatching.includes(name) === true ? true : undefined)
}

async function laneEvents (runtime: Runtime, trigger: string): Promise<any[]> {
  const out = []
  for await (const m of walkSubject(runtime.jsm, 'RELAY', `relay.deliveries.${trigger}.>`)) out.push(decodeEvent(m))
  return out
}

const idOf = (r: Received): string => String(r.headers['ce-id'])

t.test('the trigger API: create, get, list, consumers named after triggers, conflicts, bad bodies, delete', async t => {
  const { app, runtime } = await startService(t, { env: ENV })
  const created = await post(app, '/api/triggers', {
    name: 'orders',
    filter: { attributes: { type: 'com.example.order', source: '/shop' }, subjectPrefix: 'eu/' },
    subscriber: { url: 'http://127.0.0.1:9/orders' },
    delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.5S', timeout: 'PT10S', deadLetterSink: { url: 'http://127.0.0.1:9/dls' } }
  })
  t.equal(created.statusCode, 201)
  t.equal(created.headers.location, '/api/triggers/orders')
  t.match(created.json(), {
    name: 'orders',
    consumer: 'orders',
    filter: { attributes: { type: 'com.example.order', source: '/shop' }, subjectPrefix: 'eu/' },
    subscriber: { url: 'http://127.0.0.1:9/orders' },
    ownSecret: false,
    delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.5S', timeout: 'PT10S', deadLetterSink: { url: 'http://127.0.0.1:9/dls' } }
  })
  const info = await runtime.jsm.consumers.info('RELAY', 'orders')
  t.equal(info.config.filter_subject, 'relay.events.com%2Eexample%2Eorder.>', 'a type filter narrows the consumer')
  t.match(info.config.description, /Jetway trigger orders/)

  t.equal((await post(app, '/api/triggers', { name: 'orders', subscriber: { relay: true } })).statusCode, 409)
  t.equal((await post(app, '/api/triggers', { name: 'relay-delivery', subscriber: { relay: true } })).statusCode, 409, "Jetway's own consumer names are taken")
  const bad = await post(app, '/api/triggers', { name: 'x', subscriber: { url: 'ftp://x' }, delivery: { backoffDelay: 'soon' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json().errors, [{ field: 'subscriber.url' }, { field: 'delivery.backoffDelay' }])
  t.equal((await post(app, '/api/triggers', { name: 'Bad Name', subscriber: { relay: true } })).statusCode, 400)

  const seq = created.headers['jetway-seq'] as string
  t.match(seq, /^RELAY:\d+$/, 'jetway-seq names its stream')
  t.match((await app.inject({ url: `/api/triggers/orders?min_seq=${seq}` })).json(), { name: 'orders', version: Number(seq.split(':')[1]) })
  const list = (await app.inject({ url: `/api/triggers?min_seq=${seq}` })).json()
  t.same(list.items.map((i: { name: string }) => i.name), ['orders', 'receive-cloudevents'])

  const deleted = await app.inject({ method: 'DELETE', url: '/api/triggers/orders' })
  t.equal(deleted.statusCode, 204)
  await t.rejects(runtime.jsm.consumers.info('RELAY', 'orders'), 'its consumer is gone')
  t.equal((await app.inject({ url: `/api/triggers/orders?min_seq=${deleted.headers['jetway-seq'] as string}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: '/api/triggers/orders' })).statusCode, 404)
})

t.test('filters deliver only matching events, signed, in binary mode; per subject in stream order; a slow subject holds back no other', async t => {
  const held: ServerResponse[] = []
  const subscriber = await httpTarget(t, (req, res) => {
    if (req.headers['ce-subject'] === 'slow' && req.headers['ce-id'] === 's1') {
      held.push(res)
      return
    }
    res.statusCode = 200
    res.end()
  })
  const eu = await httpTarget(t)
  const { app, runtime } = await startService(t, { env: ENV })
  await createTrigger(app, { name: 'orders', filter: { attributes: { type: 'com.example.order' } }, subscriber: { url: `${subscriber.origin}/orders` } })
  await createTrigger(app, { name: 'eu-orders', filter: { attributes: { type: 'com.example.order', region: 'eu' }, subjectPrefix: 'f' }, subscriber: { url: eu.origin } })
  await dispatching(runtime, 'orders')
  await dispatching(runtime, 'eu-orders')

  await emit(app, 's1', 'com.example.order', 'slow')
  await emit(app, 'x1', 'com.example.other', 'fast')
  await emit(app, 'f1', 'com.example.order', 'fast', { region: 'eu' })
  await emit(app, 's2', 'com.example.order', 'slow', { region: 'eu' })
  await emit(app, 'f2', 'com.example.order', 'fast')
  await emit(app, 's3', 'com.example.order', 'slow')
  await emit(app, 'f3', 'com.example.order', 'fast', { region: 'us' })

  // s1 is held by the subscriber; the fast lane goes on meanwhile
  const firstFour = await arrived(subscriber, 4, 's1 and the fast lane')
  t.same(firstFour.map(idOf).sort(), ['f1', 'f2', 'f3', 's1'])
  t.same(firstFour.filter(r => r.headers['ce-subject'] === 'fast').map(idOf), ['f1', 'f2', 'f3'], 'the fast lane in stream order')
  t.equal(subscriber.received.length, 4, 's2 and s3 wait behind s1')
  held.shift()!.end()
  await arrived(subscriber, 6)
  t.same(subscriber.received.filter(r => r.headers['ce-subject'] === 'slow').map(idOf), ['s1', 's2', 's3'], 'the slow lane in stream order')
  t.notOk(subscriber.received.some(r => idOf(r) === 'x1'), 'another type is not delivered')

  const [euOnly] = await arrived(eu, 1)
  t.equal(idOf(euOnly!), 'f1', 'region=eu and subject prefix f: only f1')

  const first = subscriber.received.find(r => idOf(r) === 'f1')!
  t.equal(first.method, 'POST')
  t.equal(first.url, '/orders')
  t.equal(first.headers['ce-specversion'], '1.0')
  t.equal(first.headers['ce-source'], '/tests')
  t.equal(first.headers['ce-type'], 'com.example.order')
  t.equal(first.headers['ce-region'], 'eu', 'extensions as ce- headers')
  t.match(first.headers['ce-knativearrivaltime'], /^\d{4}-\d\d-\d\dT/)
  t.match(first.headers['content-type'], /application\/json/)
  t.same(new Webhook(secret).verify(first.body.toString(), first.headers as Record<string, string>), { id: 'f1' })
  t.equal(eu.received.length, 1)
})

t.test('a failing delivery is retried by the trigger policy (Retry-After honoured) while its subject waits; then the next one goes', async t => {
  let k1Calls = 0
  const subscriber = await httpTarget(t, (req, res) => {
    if (req.headers['ce-id'] === 'k1' && ++k1Calls <= 2) {
      res.statusCode = k1Calls === 1 ? 429 : 503
      if (k1Calls === 1) res.setHeader('retry-after', '1')
      res.end('later')
      return
    }
    res.statusCode = 202
    res.end()
  })
  const { app, runtime } = await startService(t, { env: ENV })
  await createTrigger(app, { name: 'retrying', filter: { attributes: { type: 'com.example.job' } }, subscriber: { url: subscriber.origin }, delivery: { retry: 3, backoffPolicy: 'exponential', backoffDelay: 'PT0.05S' } })
  await dispatching(runtime, 'retrying')
  await emit(app, 'k1', 'com.example.job', 'k')
  await emit(app, 'k2', 'com.example.job', 'k')
  await emit(app, 'other', 'com.example.job', 'j')
  await arrived(subscriber, 5)
  const order = subscriber.received.map(r => idOf(r))
  t.same(order.filter(id => id !== 'other'), ['k1', 'k1', 'k1', 'k2'], 'k2 only after k1 is delivered')
  t.ok(order.indexOf('other') < order.lastIndexOf('k1'), 'another subject did not wait for k1')
  t.same(subscriber.received.filter(r => idOf(r) === 'k1').map(r => r.headers['webhook-id']).filter((v, i, a) => a.indexOf(v) === i).length, 1, 'one webhook-id across the retries')

  const lane = await until('the recorded outcome', async () => {
    const events = await laneEvents(runtime, 'retrying')
    return events.length >= 3 ? events : undefined
  })
  t.same(lane.map(e => e.type), ['relay.trigger.attempt.failed', 'relay.trigger.attempt.failed', 'relay.trigger.delivered'])
  t.match(lane[0].data, { eventId: 'k1', lane: 'k', attempt: 1, status: 429, backoffMs: 1000 }, "the peer's Retry-After, longer than the policy's 50 ms")
  t.match(lane[1].data, { attempt: 2, status: 503, backoffMs: 100 }, 'exponential: 50 ms, then 100 ms')
  t.match(lane[2].data, { eventId: 'k1', attempt: 3, status: 202 })
})

t.test('a 2xx answer that carries a CloudEvent is a reply, published back into the broker', async t => {
  const subscriber = await httpTarget(t, (req, res) => {
    res.statusCode = 200
    res.setHeader('ce-specversion', '1.0')
    res.setHeader('ce-id', `reply-to-${String(req.headers['ce-id'])}`)
    res.setHeader('ce-source', '/subscriber')
    res.setHeader('ce-type', 'com.example.reply')
    res.setHeader('content-type', 'application/json')
    res.end('{"answer":42}')
  })
  const replies = await httpTarget(t)
  const { app, runtime } = await startService(t, { env: ENV })
  await createTrigger(app, { name: 'asks', filter: { attributes: { type: 'com.example.ask' } }, subscriber: { url: subscriber.origin } })
  await createTrigger(app, { name: 'answers', filter: { attributes: { type: 'com.example.reply' } }, subscriber: { url: replies.origin } })
  await dispatching(runtime, 'asks')
  await dispatching(runtime, 'answers')
  const askSeq = await emit(app, 'q1', 'com.example.ask')
  const [reply] = await arrived(replies, 1, 'the reply delivered by the other trigger')
  t.equal(reply!.headers['ce-id'], 'reply-to-q1')
  t.equal(reply!.headers['ce-source'], '/subscriber')
  t.same(JSON.parse(reply!.body.toString()), { answer: 42 })
  const stored = []
  for await (const m of walkSubject(runtime.jsm, 'RELAY', 'relay.events.com%2Eexample%2Ereply.>')) stored.push(decodeEvent(m))
  t.match(stored, [{ data: { via: 'reply', replyTo: { trigger: 'asks', eventSeq: askSeq }, event: { type: 'com.example.reply', data: { answer: 42 } } } }])
})

t.test('after the last attempt an event goes to the dead-letter sink; without one to DLQ, replayed by npm run dlq to its trigger only; a 400 is not retried', async t => {
  let healthy = false
  const subscriber = await httpTarget(t, (req, res) => {
    res.statusCode = req.headers['ce-id'] === 'bad-request' ? 400 : healthy ? 200 : 500
    res.end(res.statusCode === 200 ? '' : 'nope')
  })
  const sink = await httpTarget(t)
  const bystander = await httpTarget(t)
  const { app, runtime, natsUrl, dataDir } = await startService(t, { env: ENV })
  const delivery = { retry: 1, backoffDelay: 'PT0.05S' }
  await createTrigger(app, { name: 'sunk', filter: { attributes: { type: 'com.example.dead' } }, subscriber: { url: subscriber.origin }, delivery: { ...delivery, deadLetterSink: { url: `${sink.origin}/dls` } } })
  await createTrigger(app, { name: 'dlq', filter: { attributes: { type: 'com.example.dead2' } }, subscriber: { url: subscriber.origin }, delivery })
  await createTrigger(app, { name: 'bystander', filter: { attributes: { type: 'com.example.dead2' } }, subscriber: { url: bystander.origin } })
  for (const name of ['sunk', 'dlq', 'bystander']) await dispatching(runtime, name)

  await emit(app, 'd1', 'com.example.dead', 'a')
  const [dead] = await arrived(sink, 1, 'the dead letter at the sink')
  t.equal(dead!.url, '/dls')
  t.equal(idOf(dead!), 'd1')
  t.equal(dead!.headers['ce-knativeerrorcode'], '500')
  t.equal(dead!.headers['ce-knativeerrordest'], subscriber.origin)
  t.equal(Buffer.from(String(dead!.headers['ce-knativeerrordata']), 'base64').toString(), 'nope')
  t.ok(new Webhook(secret).verify(dead!.body.toString(), dead!.headers as Record<string, string>))
  t.equal(subscriber.received.filter(r => idOf(r) === 'd1').length, 2, 'retry 1: two attempts')

  await emit(app, 'bad-request', 'com.example.dead', 'b')
  await arrived(sink, 2)
  t.equal(subscriber.received.filter(r => idOf(r) === 'bad-request').length, 1, 'a 400 is not retried')
  t.match((await laneEvents(runtime, 'sunk')).map(e => e.data), [
    { eventId: 'd1', attempt: 1, status: 500 },
    { eventId: 'd1', attempt: 2, reason: 'exhausted', sink: 'url', sinkUrl: `${sink.origin}/dls` },
    { eventId: 'bad-request', attempt: 1, reason: 'permanent', status: 400, sink: 'url' }
  ])

  await emit(app, 'd2', 'com.example.dead2', 'c')
  await arrived(bystander, 1)
  const letter = await until('the dead letter in DLQ', async () => (await listDeadLetters(runtime.jsm)).find(l => l.consumer === 'dlq'))
  t.match(letter, { stream: 'RELAY', subject: 'relay.events.com%2Eexample%2Edead2.c', deliveries: 2, error: /answered 500/ })
  healthy = true
  const before = subscriber.received.length
  const env = { ...process.env, NATS_URL: natsUrl, DATA_DIR: dataDir }
  await run(process.execPath, ['--import', 'tsx', 'scripts/dlq.ts', 'replay', String(letter.dlqSeq)], { env })
  const replayed = await arrived(subscriber, before + 1, 'the replayed delivery')
  t.equal(idOf(replayed[before]!), 'd2')
  t.equal(replayed[before]!.headers['jetway-replay-of'], undefined, 'the subscriber sees the event, not our bookkeeping')
  // the bystander trigger matched the same event once; the replay was not for it
  await emit(app, 'after', 'com.example.dead2', 'c')
  await arrived(bystander, 2)
  t.same(bystander.received.map(idOf), ['d2', 'after'])
})
