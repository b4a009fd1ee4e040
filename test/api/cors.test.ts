import t from 'tap'
import { startService } from '../fixtures/service.js'
import { readSse } from '../fixtures/sse-fetch.js'

// CORS_ORIGINS (src/api/edge.ts), over real HTTP as a browser on another origin talks to it:
// the preflight, a write whose answer headers the page reads, and a cross-origin SSE stream.

const APP = 'https://app.example.com'

const preflight = async (url: string, origin: string, method: string, headers: string): Promise<Response> =>
  await fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } })

const list = (value: string | null): string[] => (value ?? '').split(',').map(v => v.trim().toLowerCase()).filter(v => v !== '')

t.test('an allowed origin: preflight, a write, a cross-origin SSE stream resumed by Last-Event-ID', async t => {
  const { url } = await startService(t, { env: { CORS_ORIGINS: `${APP}, http://localhost:5173` }, listen: 0 })

  const pre = await preflight(`${url}/api/collect`, APP, 'POST', 'content-type,idempotency-key,authorization')
  t.equal(pre.status, 204)
  t.equal(pre.headers.get('access-control-allow-origin'), APP, 'the origin is echoed, not *')
  for (const m of ['get', 'post', 'patch', 'delete']) t.ok(list(pre.headers.get('access-control-allow-methods')).includes(m), `allows ${m}`)
  for (const h of ['authorization', 'content-type', 'idempotency-key', 'if-match', 'last-event-id', 'jetway-seq']) {
    t.ok(list(pre.headers.get('access-control-allow-headers')).includes(h), `allows request header ${h}`)
  }
  t.equal(pre.headers.get('access-control-allow-credentials'), null, 'no credentials: tokens ride in Authorization, not cookies')
  t.equal(pre.headers.get('access-control-max-age'), '600')
  t.match(pre.headers.get('vary'), /origin/i)
  t.equal(pre.headers.get('x-content-type-options'), 'nosniff', 'the preflight answer carries the security headers')

  const write = await fetch(`${url}/api/collect`, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json', 'idempotency-key': 'k-1' },
    body: JSON.stringify({ event_id: 'e1', event: 'view', user_id: 'alice', event_datetime: '2026-01-01T00:00:00Z', parameters: {} })
  })
  t.equal(write.status, 200)
  t.equal(write.headers.get('access-control-allow-origin'), APP)
  const exposed = list(write.headers.get('access-control-expose-headers'))
  for (const h of ['etag', 'location', 'retry-after', 'jetway-seq', 'x-request-id']) t.ok(exposed.includes(h), `exposes ${h}`)
  t.match(write.headers.get('jetway-seq'), /^COLLECT:\d+$/)

  // the second allowed origin gets its own name back
  const other = await fetch(`${url}/api/event/alice`, { headers: { origin: 'http://localhost:5173' } })
  t.equal(other.headers.get('access-control-allow-origin'), 'http://localhost:5173')

  // cross-origin SSE: a job's status stream, read after a Last-Event-ID (a request header the preflight allows)
  const ssePre = await preflight(`${url}/noti/users/alice/sub`, APP, 'GET', 'last-event-id')
  t.equal(ssePre.status, 204)
  t.equal(ssePre.headers.get('access-control-allow-origin'), APP)
  const job = await fetch(`${url}/noti/pub`, {
    method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'alice', eventType: 'TRAINING' })
  })
  t.equal(job.status, 200)
  const { eventId } = await job.json() as { eventId: string }
  const sse = await readSse(t, `${url}/noti/users/alice/sub`, { origin: APP, 'last-event-id': '0' })
  t.equal(sse.status, 200)
  t.match(sse.headers.get('content-type'), /^text\/event-stream/)
  t.equal(sse.headers.get('access-control-allow-origin'), APP, 'the hijacked SSE answer carries the CORS headers')
  t.ok(list(sse.headers.get('access-control-expose-headers')).includes('jetway-seq'))
  const done = await fetch(`${url}/noti/complete/${eventId}`, {
    method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: JSON.stringify({ eventStatus: 'Y', eventDesc: 'done' })
  })
  t.equal(done.status, 200)
  const ev = await sse.next(e => e.event === 'job.status.changed')
  t.match(JSON.parse(ev.data), { eventId, eventStatus: 'Y' })
  sse.close()
})

t.test('an origin not listed gets no CORS headers; a plain OPTIONS reaches its route', async t => {
  const { url } = await startService(t, { env: { CORS_ORIGINS: APP }, listen: 0 })
  const pre = await preflight(`${url}/api/collect`, 'https://evil.example', 'POST', 'content-type')
  t.equal(pre.headers.get('access-control-allow-origin'), null)
  t.equal(pre.headers.get('access-control-allow-methods'), null)
  const read = await fetch(`${url}/api/event/alice`, { headers: { origin: 'https://evil.example' } })
  t.equal(read.status, 200, 'a server does not refuse: the browser withholds the answer')
  t.equal(read.headers.get('access-control-allow-origin'), null)
  t.match(read.headers.get('vary'), /origin/i, 'caches keep answers for different origins apart')

  // the CloudEvents webhook handshake is an OPTIONS without Access-Control-Request-Method: its route answers it
  const handshake = await fetch(`${url}/noti/events`, { method: 'OPTIONS', headers: { origin: APP, 'webhook-request-origin': 'eventemitter.example.com' } })
  t.equal(handshake.status, 200)
  t.equal(handshake.headers.get('webhook-allowed-origin'), 'eventemitter.example.com')
})

t.test('CORS_ORIGINS=*: any origin, answered with *', async t => {
  const { url } = await startService(t, { env: { CORS_ORIGINS: '*' }, listen: 0 })
  const pre = await preflight(`${url}/api/meetings`, 'https://anywhere.example', 'POST', 'content-type,if-match')
  t.equal(pre.status, 204)
  t.equal(pre.headers.get('access-control-allow-origin'), '*')
  const read = await fetch(`${url}/api/event/alice`, { headers: { origin: 'https://anywhere.example' } })
  t.equal(read.headers.get('access-control-allow-origin'), '*')
})

t.test('no CORS_ORIGINS (the default): no CORS at all', async t => {
  const { url } = await startService(t, { listen: 0 })
  const pre = await preflight(`${url}/api/collect`, APP, 'POST', 'content-type')
  t.equal(pre.headers.get('access-control-allow-origin'), null)
  t.equal(pre.status, 404, 'no preflight route')
  const read = await fetch(`${url}/api/event/alice`, { headers: { origin: APP } })
  t.equal(read.headers.get('access-control-allow-origin'), null)
  t.equal(read.headers.get('cross-origin-resource-policy'), 'same-origin')
})
