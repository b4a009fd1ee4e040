import t from 'tap'
import { CloudEvent, emitterFor, httpTransport, Mode, HTTP } from 'cloudevents'
import { startService, post } from '../fixtures/service.js'
import { httpTarget, type Received } from '../fixtures/http-target.js'
import { walkSubject, lastOnSubject } from '../../src/store/subject-reader.js'
import { decodeEvent, type StoredEvent } from '../../src/store/events.js'
import type { Runtime } from '../../src/runtime.js'
import { until } from '../fixtures/wait.js'

// POST /event, the broker's ingress, with the CloudEvents SDK as the client (binary,
// structured, batch; 1.0 and 0.3), the seed's plain JSON, and the default trigger
// receive-cloudevents relaying the default type to a loopback target.

async function brokerEvents (runtime: Runtime): Promise<StoredEvent<any>[]> {
  const out = []
  for await (const m of walkSubject(runtime.jsm, 'RELAY', 'relay.events.>')) out.push(decodeEvent(m))
  return out
}

t.test('CloudEvents SDK clients, binary and structured, 1.0 and 0.3, and a batch', async t => {
  const { url, runtime } = await startService(t, { listen: 0, env: { RELAY_ALLOW: '127.0.0.0/8' } })
  for (const specversion of ['1.0', '0.3'] as const) {
    for (const mode of [Mode.BINARY, Mode.STRUCTURED]) {
      const emit = emitterFor(httpTransport(`${url}/event`), { mode })
      const ce = new CloudEvent({ specversion, id: `e-${specversion}-${mode}`, source: '/tests', type: 'com.example.order.created', subject: 'order-1', data: { n: 1 }, myext: 'x' })
      const res = await emit(ce) as { body?: string }
      t.match(JSON.parse(res.body!), { accepted: 1, events: [{ id: ce.id, source: '/tests', type: 'com.example.order.created', seq: Number, duplicate: false }] })
    }
  }
  const batch = [
    new CloudEvent({ id: 'b1', source: '/tests', type: 'com.example.batch', data: 'text data', datacontenttype: 'text/plain' }),
    new CloudEvent({ id: 'b2', source: '/tests', type: 'com.example.batch', data: { ok: true } })
  ]
  const res = await fetch(`${url}/event`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(batch) })
  t.equal(res.status, 202)
  t.match(await res.json(), { accepted: 2 })

  const stored = await brokerEvents(runtime)
  t.equal(stored.length, 6)
  t.same(stored.map(e => e.data.via), ['binary', 'structured', 'binary', 'structured', 'batch', 'batch'])
  t.match(stored[2]!.data.event, { specversion: '0.3', id: 'e-0.3-binary', subject: 'order-1', data: { n: 1 }, myext: 'x' })
  t.equal(stored[0]!.natsSubject, 'relay.events.com%2Eexample%2Eorder%2Ecreated.order-1', 'subject: type and CloudEvents subject, escaped')
  t.equal(stored[4]!.natsSubject, 'relay.events.com%2Eexample%2Ebatch.%', 'no subject: %')
  t.match(stored[4]!.data.event, { data: 'text data' })

  // the same source and id again: a sender's retry appends nothing
  const again = await emitterFor(httpTransport(`${url}/event`), { mode: Mode.BINARY })(new CloudEvent({ specversion: '1.0', id: 'e-1.0-binary', source: '/tests', type: 'com.example.order.created', subject: 'order-1', data: { n: 1 } })) as { body?: string }
  t.match(JSON.parse(again.body!), { events: [{ duplicate: true }] })
})

t.test('events missing required attributes are 400, an unknown spec version too, other media types 415', async t => {
  const { app } = await startService(t)
  const noSource = await app.inject({ method: 'POST', url: '/event', headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-type': 't', 'content-type': 'application/json' }, payload: '{}' })
  t.equal(noSource.statusCode, 400)
  t.match(noSource.json(), { code: 'JETWAY_VALIDATION', errors: [{ field: 'source', message: 'is required' }] })
  const structured = await app.inject({ method: 'POST', url: '/event', headers: { 'content-type': 'application/cloudevents+json' }, payload: JSON.stringify({ specversion: '1.0', source: '/s', type: 't' }) })
  t.equal(structured.statusCode, 400)
  t.match(structured.json(), { errors: [{ field: 'id', message: 'is required' }] })
  const old = await app.inject({ method: 'POST', url: '/event', headers: { 'content-type': 'application/cloudevents+json' }, payload: JSON.stringify({ specversion: '0.2', id: '1', source: '/s', type: 't' }) })
  t.equal(old.statusCode, 400)
  const batch = await app.inject({ method: 'POST', url: '/event', headers: { 'content-type': 'application/cloudevents-batch+json' }, payload: JSON.stringify([{ specversion: '1.0', id: '1', source: '/s', type: 't' }, { specversion: '1.0', id: '2', type: 't' }]) })
  t.equal(batch.statusCode, 400)
  t.match(batch.json(), { errors: [{ field: '1.source' }] })
  const text = await app.inject({ method: 'POST', url: '/event', headers: { 'content-type': 'text/plain' }, payload: 'hi' })
  t.equal(text.statusCode, 415)
  const bad = await app.inject({ method: 'POST', url: '/event', headers: { 'content-type': 'application/json' }, payload: '{nope' })
  t.equal(bad.statusCode, 400)
})

t.test("the seed's POST /event flow: plain JSON becomes dev.jetway.relay.request, relayed by the default trigger receive-cloudevents", async t => {
  const target = await httpTarget(t, (_req, res) => { res.statusCode = 200; res.end('ok') })
  const { app, runtime } = await startService(t, { env: { RELAY_ALLOW: '127.0.0.0/8', TIMER_TICK: '50ms' } })
  const consumers = []
  for await (const c of runtime.jsm.consumers.list('RELAY')) consumers.push(c.name)
  t.ok(consumers.includes('receive-cloudevents'), 'the default trigger is a consumer of RELAY')
  t.match((await app.inject({ url: '/api/triggers/receive-cloudevents' })).json(), {
    name: 'receive-cloudevents', filter: { attributes: { type: 'dev.jetway.relay.request' } }, subscriber: { relay: true }
  })

  // the seed's test.json
  const res = await post(app, '/event', {
    targetURL: target.origin,
    targetAPI: '/test',
    headers: { 'Content-type': 'application/json', Header1: 'Header1', Header2: 'Header2' },
    body: { 'callback-url': 'http://send-cloudevent:8000', 'callback-api': '/event/callback', parameter2: 'parameter2', parameter3: 'parameter3' }
  })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { accepted: 1, events: [{ source: '/jetway/event', type: 'dev.jetway.relay.request' }] })
  const [call] = await until<Received[]>('the relayed call', () => target.received.length > 0 ? target.received : undefined)
  t.equal(call!.method, 'POST')
  t.equal(call!.url, '/test')
  t.equal(call!.headers.header1, 'Header1')
  t.same(JSON.parse(call!.body.toString()), { 'callback-url': 'http://send-cloudevent:8000', 'callback-api': '/event/callback', parameter2: 'parameter2', parameter3: 'parameter3' })

  // headers or body missing: a failure recorded on the event (dead-lettered), never a crash
  const broken = await post(app, '/event', { targetURL: target.origin, targetAPI: '/test' })
  const seq = broken.json().events[0].seq
  const recorded = await until('the recorded failure', async () => {
    const m = await lastOnSubject(runtime.jsm, 'RELAY', `relay.deliveries.receive-cloudevents.%-${seq}`)
    return m === null ? undefined : decodeEvent(m)
  })
  t.match(recorded, { type: 'relay.trigger.deadlettered', data: { reason: 'permanent', sink: 'dlq', error: /lacks headers, body/ } })
  t.equal(target.received.length, 1, 'no call made for it')
})

t.test('HTTP.binary output of the SDK is accepted as is (ce-* headers with a non-JSON body)', async t => {
  const { app } = await startService(t)
  const msg = HTTP.binary(new CloudEvent({ id: 'bin', source: '/s', type: 'com.example.bytes', datacontenttype: 'application/octet-stream', data: new Uint8Array([0, 1, 2, 255]) }))
  const res = await app.inject({ method: 'POST', url: '/event', headers: msg.headers as Record<string, string>, payload: Buffer.from(msg.body as Uint8Array) })
  t.equal(res.statusCode, 202)
})
