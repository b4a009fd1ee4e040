import t from 'tap'
import { startService, post } from '../fixtures/service.js'
import { closedPort, httpTarget } from '../fixtures/http-target.js'
import { walkSubject } from '../../src/store/subject-reader.js'
import { decodeEvent } from '../../src/store/events.js'

// GET and POST /sync against loopback targets (RELAY_ALLOW=127.0.0.0/8), then the SSRF guard
// with RELAY_ALLOW unset.

const LOOPBACK = { RELAY_ALLOW: '127.0.0.0/8', OUTBOUND_TIMEOUT: '1s' }

t.test('GET /sync with a JSON body passes status, end-to-end headers and body; both are events in RELAY', async t => {
  const target = await httpTarget(t, (req, res) => {
    res.statusCode = 203
    res.setHeader('content-type', 'application/json')
    res.setHeader('x-target', 'yes')
    res.setHeader('keep-alive', 'timeout=5')
    res.end(JSON.stringify({ path: req.url, got: req.headers.header1 }))
  })
  const { app, runtime } = await startService(t, { env: LOOPBACK })
  // the seed's get_sync_tasks.json, sent with GET as its curl does
  const res = await app.inject({
    method: 'GET',
    url: '/sync',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({
      targetURL: target.origin,
      targetAPI: '/sync_tasks/abcdevflake',
      headers: { 'Content-type': 'application/json', Header1: 'Header1', Header2: 'Header2', Connection: 'close', Host: 'evil.example' },
      body: { 'callback-url': 'http://send-cloudevent:8000', 'callback-api': '/event/callback', parameter2: 'parameter2' }
    })
  })
  t.equal(res.statusCode, 203, "the target's status")
  t.same(res.json(), { path: '/sync_tasks/abcdevflake', got: 'Header1' }, 'JSON stays JSON')
  t.equal(res.headers['x-target'], 'yes')
  t.equal(res.headers['keep-alive'], undefined, 'hop-by-hop answer headers dropped')
  t.match(res.headers['jetway-request-id'], /^[0-9a-f-]{36}$/)
  const got = target.received[0]!
  t.equal(got.method, 'GET', 'the same method')
  t.equal(got.body.length, 0, 'no body for GET')
  t.equal(got.headers.header2, 'Header2')
  t.equal(got.headers.host, `127.0.0.1:${target.port}`, "the client's host is not relayed")
  t.not(got.headers.connection, 'close')

  const events = []
  for await (const m of walkSubject(runtime.jsm, 'RELAY', 'relay.sync.>')) events.push(decodeEvent(m))
  t.same(events.map(e => e.type), ['relay.sync.requested', 'relay.sync.answered'])
  t.match(events[1]!.data, { response: { status: 203, body: { path: '/sync_tasks/abcdevflake' }, bodyEncoding: 'json' } })
})

t.test('POST /sync sends the JSON body with the given headers', async t => {
  const target = await httpTarget(t, (req, res) => {
    res.statusCode = 201
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    res.end(`created from ${req.body.toString()}`)
  })
  const { app } = await startService(t, { env: LOOPBACK })
  const res = await post(app, '/sync', { targetURL: target.origin, targetAPI: '/tasks', headers: { 'Content-type': 'application/json', Header1: 'Header1' }, body: { type: '10' } })
  t.equal(res.statusCode, 201)
  t.equal(res.body, 'created from {"type":"10"}')
  t.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(target.received[0]!.method, 'POST')
  t.equal(target.received[0]!.headers['content-type'], 'application/json')
  t.equal(target.received[0]!.headers.header1, 'Header1')
})

t.test('a redirect is the answer, not followed', async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = 302
    res.setHeader('location', 'http://127.0.0.1:1/elsewhere')
    res.end()
  })
  const { app } = await startService(t, { env: LOOPBACK })
  const res = await post(app, '/sync', { targetURL: target.origin, targetAPI: '/r', headers: {}, body: {} })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, 'http://127.0.0.1:1/elsewhere')
  t.equal(target.received.length, 1)
})

t.test('a target that does not answer in time is 504, one that cannot be reached 502, both naming the target', async t => {
  const slow = await httpTarget(t, () => { /* never answers */ })
  const { app, runtime } = await startService(t, { env: LOOPBACK })
  const timeout = await post(app, '/sync', { targetURL: slow.origin, targetAPI: '/slow', headers: {}, body: {} })
  t.equal(timeout.statusCode, 504)
  t.match(timeout.headers['content-type'], /application\/problem\+json/)
  t.match(timeout.json(), { status: 504, code: 'JETWAY_OUTBOUND_TIMEOUT', detail: new RegExp(`${slow.origin}/slow`) })

  const port = await closedPort()
  const down = await post(app, '/sync', { targetURL: `http://127.0.0.1:${port}`, targetAPI: '/x', headers: {}, body: {} })
  t.equal(down.statusCode, 502)
  t.match(down.json(), { code: 'JETWAY_OUTBOUND_UNREACHABLE', detail: new RegExp(`127.0.0.1:${port}/x`) })

  const events = []
  for await (const m of walkSubject(runtime.jsm, 'RELAY', 'relay.sync.>')) events.push(decodeEvent(m))
  t.same(events.map(e => e.type), ['relay.sync.requested', 'relay.sync.failed', 'relay.sync.requested', 'relay.sync.failed'])
  t.match(events[1]!.data, { code: 'JETWAY_OUTBOUND_TIMEOUT', httpStatus: 504 })
})

t.test('bad bodies are 400 with the fields named', async t => {
  const { app } = await startService(t, { env: LOOPBACK })
  const missing = await post(app, '/sync', { targetAPI: '/x' })
  t.equal(missing.statusCode, 400)
  t.match(missing.json(), { errors: [{ field: 'targetURL', message: 'is required' }] })
  const scheme = await post(app, '/sync', { targetURL: 'ftp://127.0.0.1', targetAPI: '/x' })
  t.equal(scheme.statusCode, 400)
  t.match(scheme.json(), { errors: [{ field: 'targetURL' }] })
  const badJson = await app.inject({ method: 'GET', url: '/sync', headers: { 'content-type': 'application/json' }, payload: '{nope' })
  t.equal(badJson.statusCode, 400)
})

t.test('SSRF: private, loopback, metadata and mapped targets are refused (403) with RELAY_ALLOW unset, and no connection is made', async t => {
  const target = await httpTarget(t)
  const { app } = await startService(t, { env: { OUTBOUND_TIMEOUT: '1s' } })
  for (const targetURL of ['http://127.0.0.1', 'http://10.0.0.1', 'http://169.254.169.254', 'http://[::ffff:127.0.0.1]', 'http://localhost']) {
    const res = await post(app, '/sync', { targetURL: `${targetURL}:${target.port}`, targetAPI: '/latest/meta-data', headers: {}, body: {} })
    t.equal(res.statusCode, 403, targetURL)
    t.match(res.json(), { code: 'JETWAY_OUTBOUND_REFUSED', detail: /RELAY_ALLOW/ }, targetURL)
  }
  t.equal(target.connections(), 0, 'nothing reached the loopback target')
})
