import t, { type Test } from 'tap'
import { connect as tcpConnect, type Socket } from 'node:net'
import type { RouteOptions } from 'fastify'
import { chromium } from 'playwright-core'
import { startService, post } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'
import { until } from '../fixtures/wait.js'
import { httpTarget } from '../fixtures/http-target.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { Subjects } from '../../src/store/subjects.js'
import { restartableNats } from '../fixtures/nats.js'
import type { Runtime } from '../../src/runtime.js'

// A spec-compliant EventSource (a browser's, the `eventsource` package) gives up for good on
// any answer but 200. A stream that cannot be served now (a connection cap, the rate limit, the
// event store away, the server closing) is answered 200 with a `retry:` hint and ends at once,
// so the client comes back by itself; only a request that can never succeed gets a 4xx.

const FAST = { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '200ms' }

/** Appends a job.status.changed as the completion worker would (the SSE hub streams these). */
async function status (runtime: Runtime, userId: string, eventId: string): Promise<number> {
  const appended = await appendEvent(runtime.js, {
    def: Events.jobStatusChanged,
    data: { eventId, eventStatus: 'Y', eventDesc: '', eventType: 'TEST', userId },
    subject: Subjects.jobStatus(userId, eventId),
    source: '/test',
    time: new Date()
  })
  return appended.seq
}

/** An open stream, read until its first blank line; the abort closes it. */
async function hold (url: string): Promise<{ status: number, close: () => void }> {
  const ac = new AbortController()
  const r = await fetch(url, { signal: ac.signal })
  const reader = r.body!.getReader()
  let text = ''
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  return { status: r.status, close: () => { ac.abort() } }
}

/** The come-back-later answer: 200, an event stream that holds a retry hint and a comment, and ends. */
async function turnedAway (t: Test, response: Response, why: RegExp, afterS: number): Promise<void> {
  t.equal(response.status, 200, 'answered 200 (on anything else an EventSource gives up for good)')
  t.match(response.headers.get('content-type'), /^text\/event-stream/)
  t.equal(response.headers.get('cache-control'), 'no-cache')
  t.equal(response.headers.get('retry-after'), String(afterS))
  t.equal(response.headers.get('x-content-type-options'), 'nosniff', 'with the security headers')
  const text = await response.text() // it ends at once
  const m = /^retry: (\d+)\n: (.*)\n\n$/.exec(text)
  t.ok(m !== null, `a retry hint and a comment, then the end: ${JSON.stringify(text)}`)
  const ms = Number(m?.[1])
  t.ok(ms >= afterS * 500 && ms <= afterS * 1500, `retry: ${ms} ms, about ${afterS} s`)
  t.match(m?.[2], why)
}

t.test('past the connection caps: 200, a retry hint and the end; an EventSource comes back by itself once a slot frees', async t => {
  const { runtime, url } = await startService(t, { env: { ...FAST, SSE_MAX_CONNECTIONS: '3', SSE_MAX_PER_USER: '2' }, listen: 0 })
  const a1 = await hold(`${url}/noti/users/a/sub`)
  const a2 = await hold(`${url}/noti/users/a/sub`)
  t.equal(a1.status, 200)
  t.equal(a2.status, 200)
  await turnedAway(t, await fetch(`${url}/noti/users/a/sub`), /a user may hold at most 2 SSE connections/, 5)

  const b1 = await hold(`${url}/noti/users/b/sub`)
  t.equal(b1.status, 200, 'another user still gets one')
  await turnedAway(t, await fetch(`${url}/noti/users/c/sub`), /this instance serves at most 3 SSE connections/, 5)
  b1.close()
  await until('the server has seen b1 go', () => runtime.hubs.jobs.listenerCount('user:b') === 0 ? true : undefined)

  // the `eventsource` package: a third stream of user a is turned away, and stays a reconnecting EventSource
  const third = subscribe(t, `${url}/noti/users/a/sub`)
  const errors: number[] = []
  let admitted = false
  third.es.addEventListener('error', () => { errors.push(third.es.readyState) })
  // a live-only stream that is served opens with its position; one turned away does not
  third.es.addEventListener('position', () => { admitted = true })
  await until('the third stream was turned away', () => errors.length > 0 ? true : undefined)
  t.equal(runtime.hubs.jobs.listenerCount('user:a'), 2, 'not served')
  t.notOk(admitted)
  t.not(third.es.readyState, third.es.CLOSED, 'not closed: it reconnects by itself')
  t.ok(errors.every(state => state === third.es.CONNECTING), 'every end was followed by a reconnect')

  // a slot frees: its next try gets in, and it gets the events from then on
  a1.close()
  await until('the third stream is served', () => admitted ? true : undefined)
  const seq = await status(runtime, 'a', 'after-a-slot-freed')
  const [got] = await third.until(1)
  t.equal(got!.id, String(seq))
  t.match(got!.data, { eventId: 'after-a-slot-freed', userId: 'a' })
  a2.close()
})

t.test('every SSE route turns a client away the same way (found from the routes\' own schemas)', async t => {
  const routes: RouteOptions[] = []
  const { app, url } = await startService(t, { env: { ...FAST, SSE_MAX_CONNECTIONS: '1' }, listen: 0, onRoute: route => { routes.push(route) } })
  const { taskId } = (await post(app, '/api/tasks', { type: 'deploy', input: {}, owner: 'o@example.com' })).json()
  const paths: Array<[string, string]> = [
    ['GET', '/noti/sub/job-1'],
    ['POST', '/noti/sub/job-1'],
    ['GET', '/noti/users/u/sub'],
    ['GET', `/api/tasks/${taskId as string}/events`],
    ['GET', '/api/tasks/sub?owner=o@example.com'],
    ['GET', '/event/callback/sub'],
    ['GET', '/api/tail']
  ]
  const sse = routes.filter(r => (r.schema as { response?: Record<string, { content?: Record<string, unknown> }> } | undefined)?.response?.[200]?.content?.['text/event-stream'] !== undefined)
  const declared = sse.flatMap(r => (Array.isArray(r.method) ? r.method : [r.method]).filter(m => m !== 'HEAD').map(m => `${m} ${r.url}`)).sort()
  t.same(declared, ['GET /api/tail', 'GET /api/tasks/:id/events', 'GET /api/tasks/sub', 'GET /event/callback/sub', 'GET /noti/sub/:eventId', 'GET /noti/users/:userId/sub', 'POST /noti/sub/:eventId'], 'these are all the SSE routes')

  // the one connection the instance serves
  const held = await hold(`${url}/noti/users/holder/sub`)
  for (const [method, path] of paths) {
    t.comment(`${method} ${path}`)
    await turnedAway(t, await fetch(`${url}${path}`, { method }), /this instance serves at most 1 SSE connections/, 5)
  }
  held.close()
})

t.test('the rate limit on an SSE route: come back after its Retry-After', async t => {
  const { app, url } = await startService(t, { env: { ...FAST, RATE_LIMIT: '2', RATE_LIMIT_WINDOW: '1m' }, listen: 0 })
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/api/whoami' })).statusCode, 200)
  t.equal((await app.inject({ url: '/api/whoami' })).statusCode, 429, 'a JSON route: 429')
  const r = await fetch(`${url}/noti/users/u/sub`)
  const after = Number(r.headers.get('retry-after'))
  t.ok(after > 0 && after <= 60, `Retry-After ${after}`)
  await turnedAway(t, r, /^429: more than 2 requests in a minute/, after)
})

t.test('NATS away: the tail turns clients away until it is back; the job and user streams answer 200 and deliver once it is back', async t => {
  const nats = await restartableNats(t)
  const { app, runtime, url } = await startService(t, { natsUrl: nats.url, env: FAST, listen: 0 })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'away' })).json()

  await nats.stop()
  await until('the service saw NATS go', () => runtime.nats.connected ? undefined : true)
  // the console's tail starts a JetStream tail for its streams: not now
  await turnedAway(t, await fetch(`${url}/api/tail?streams=JOBS`), /^503: /, 1)
  // the job and user streams: 200, and their events once NATS is back
  const job = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  const user = subscribe(t, `${url}/noti/users/away/sub`)
  await Promise.all([job.open(), user.open()])

  await nats.start()
  await until('the service is connected again', () => runtime.nats.connected ? true : undefined)
  // over the same HTTP client (undici's pool) as the EventSources
  const done = await fetch(`${url}/noti/complete/${eventId as string}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ eventStatus: 'Y' }) })
  t.equal(done.status, 200, 'the first request after the restart is answered')
  t.match((await job.until(1))[0]!.data, { eventId, eventStatus: 'Y' })
  t.match((await user.until(1))[0]!.data, { eventId, eventStatus: 'Y' })
  const tail = await fetch(`${url}/api/tail?streams=JOBS`, { signal: AbortSignal.timeout(20_000) })
  t.equal(tail.status, 200)
  const reader = tail.body!.getReader()
  let text = ''
  while (!text.includes('event: position')) text += new TextDecoder().decode((await reader.read()).value)
  t.match(text, /^retry: 2000\n\nid: JOBS:\d+\nevent: position\n/, 'and the tail streams again')
  await reader.cancel()
})

/** True once `text` holds a whole HTTP/1.1 answer (by its Content-Length, or chunked to its end). */
function complete (text: string): boolean {
  const cut = text.indexOf('\r\n\r\n')
  if (cut < 0) return false
  const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, cut))
  if (length !== null) return Buffer.byteLength(text.slice(cut + 4)) >= Number(length[1])
  return text.endsWith('\r\n0\r\n\r\n')
}

/** One request on a kept-alive socket; resolves with the whole answer (or what came before the socket closed). */
async function exchange (socket: Socket, request: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk: Buffer): void => {
      text += chunk.toString()
      if (complete(text)) done()
    }
    const done = (): void => { socket.off('data', onData); socket.off('close', done); socket.off('error', reject); resolve(text) }
    socket.on('data', onData)
    socket.once('close', done)
    socket.once('error', reject)
    socket.write(request)
  })
}

t.test('while the server closes, a request on a kept-alive connection: an SSE route says come back later, another route 503', async t => {
  for (const [path, expect] of [['/noti/users/u/sub', 'sse'], ['/api/whoami', 'problem']] as const) {
    t.comment(path)
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    const target = await httpTarget(t, (_req, res) => { held.then(() => res.end('{}')).catch(() => {}) })
    const svc = await startService(t, { env: { ...FAST, RELAY_ALLOW: '127.0.0.0/8' }, listen: 0 })
    const socket = tcpConnect(Number(new URL(svc.url).port), '127.0.0.1')
    t.teardown(() => { socket.destroy() })
    await new Promise(resolve => socket.once('connect', resolve))
    // a slow request keeps the connection busy (and the server's close waiting) ...
    const body = JSON.stringify({ targetURL: target.origin, targetAPI: '/slow' })
    const slow = exchange(socket, `POST /sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    await until('the target holds the request', () => target.received.length > 0 ? true : undefined)
    const closing = svc.close()
    await until('the server closes', () => svc.app.server.listening ? undefined : true)
    release()
    t.match(await slow, /^HTTP\/1\.1 200 /, 'the request in flight is answered')
    // ... and the next request on it arrives while the server closes
    const next = await exchange(socket, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    if (expect === 'sse') {
      t.match(next, /^HTTP\/1\.1 200 /, 'not a 503, on which an EventSource gives up for good')
      t.match(next, /content-type: text\/event-stream/i)
      t.match(next, /connection: close/i)
      t.match(next, /\r\n\r\nretry: \d+\n: 503: the server is shutting down/)
    } else {
      t.match(next, /^HTTP\/1\.1 503 /)
      t.match(next, /content-type: application\/problem\+json/i)
      t.match(next, /retry-after: 2/i)
      t.match(next, /"code":"JETWAY_UNAVAILABLE"/)
    }
    await closing
  }
})

t.test('chromium: an EventSource turned away at the per-user cap comes back by itself and gets events', async t => {
  const { runtime, url } = await startService(t, { env: { ...FAST, SSE_MAX_PER_USER: '2' }, listen: 0 })
  const a1 = await hold(`${url}/noti/users/ann/sub`)
  const a2 = await hold(`${url}/noti/users/ann/sub`)
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  const page = await browser.newPage()
  // a blank page of the service's origin (the service's own answers forbid scripts)
  await page.route(`${url}/blank`, route => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>blank</title>' }))
  await page.goto(`${url}/blank`)
  await page.evaluate(() => {
    const w = globalThis as unknown as { es: EventSource, admitted: boolean, errors: number[], got: Array<{ id: string, data: string }> }
    w.admitted = false
    w.errors = []
    w.got = []
    w.es = new EventSource('/noti/users/ann/sub')
    // a live-only stream that is served opens with its position; one turned away does not
    w.es.addEventListener('position', () => { w.admitted = true })
    w.es.addEventListener('error', () => { w.errors.push(w.es.readyState) })
    w.es.addEventListener('job.status.changed', e => { w.got.push({ id: (e as MessageEvent).lastEventId, data: (e as MessageEvent).data as string }) })
  })
  const state = async (): Promise<{ readyState: number, admitted: boolean, errors: number[], got: Array<{ id: string, data: string }> }> =>
    await page.evaluate(() => {
      const w = globalThis as unknown as { es: EventSource, admitted: boolean, errors: number[], got: Array<{ id: string, data: string }> }
      return { readyState: w.es.readyState, admitted: w.admitted, errors: w.errors, got: w.got }
    })
  await until('chromium\'s EventSource was turned away', async () => (await state()).errors.length > 0 ? true : undefined)
  const turned = await state()
  t.not(turned.readyState, 2, 'not CLOSED: it reconnects by itself')
  t.ok(turned.errors.every(s => s === 0), 'each end was followed by CONNECTING')
  t.equal(runtime.hubs.jobs.listenerCount('user:ann'), 2)
  t.notOk(turned.admitted)

  a1.close()
  await until('chromium\'s EventSource is served', async () => (await state()).admitted ? true : undefined)
  const seq = await status(runtime, 'ann', 'browser-job')
  const got = await until('the event in chromium', async () => { const s = await state(); return s.got.length > 0 ? s.got : undefined })
  t.equal(got[0]!.id, String(seq))
  t.match(JSON.parse(got[0]!.data), { eventId: 'browser-job', userId: 'ann' })
  a2.close()
})
