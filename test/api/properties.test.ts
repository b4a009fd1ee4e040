import t from 'tap'
import fc from 'fast-check'
import { request as httpRequest, validateHeaderName, validateHeaderValue, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import type { RouteOptions } from 'fastify'
import { startService, post } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'

// Hostile input, property-based: fast-check makes the path, query, headers and body of requests
// to EVERY route the app registers (Fastify's onRoute hook, so a route added later is fuzzed
// too), and each answer must hold:
//   - no 5xx (but the 502/504 a route documents for a target that did not answer), and the
//     process keeps answering /healthz;
//   - every 4xx is a problem+json body with status and title (or the error format the route
//     documents in /openapi.json: the AWS JSON of /sfn, the HTML of the approval page), and a
//     validation problem names its fields;
//   - nothing of a rejected request is stored: the message count of every stream is the same
//     after a 4xx as before it (the service runs without workers and with its timer ticker
//     idle, so nothing else appends while the property runs);
//   - nothing pollutes Object.prototype.
// JETWAY_FUZZ_RUNS (default 2500) is the total number of generated requests, spread over the
// routes; a failure prints fast-check's seed and the shrunk request.

const RUNS = Number(process.env.JETWAY_FUZZ_RUNS ?? 2500)
/** JETWAY_FUZZ_SEED replays a run (each run prints its seed) */
const SEED = Number(process.env.JETWAY_FUZZ_SEED ?? Date.now() % 2 ** 31)

// ---- values an attacker tries ------------------------------------------------------------

const NASTY_STRINGS = [
  '', ' ', ' x', 'x ', '\r\n', 'a\r\nSet-Cookie: x=1', 'a\rb', 'a\nb', '\u0000', 'a\u0000b', '\u0007', '\u001b[31m', '\u007f', '\u0085',
  '\u2028', '\ufeff', '\ud800', '\udfff', 'a\ud83d', '\ud83d\ude00', '%', '%00', '%ff', '%%', '.', '..', 'a.b', '*', '>', 'a b',
  '../../etc/passwd', '..%2f..%2fetc%2fpasswd', '"', '\\', '<script>alert(1)</script>', '{"a":1}', '__proto__', 'constructor', 'prototype',
  'toString', 'hasOwnProperty', 'x'.repeat(129), 'x'.repeat(257), 'x'.repeat(2001), 'y'.repeat(70_000), 'NaN', 'Infinity', '-1', '1e999',
  '9007199254740993', 'COLLECT:1', 'JOBS:999999999', 'W/"1"', '"99999999999999999"', 'AWSStepFunctions.SendTaskSuccess', '1.0'
]
const HUGE_NUMBERS = [1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 2 ** 53, 5e-324, 1e21, -1, 0, 0.5, 4294967296]

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('\r', '\n', '\u0000', '\t', '\u0085', '\ud800', 'a', '.', '%', '/'), maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) }
)

/** `{"a":{"a":…}}` or `[[[…]]]`, as text: deeper than any schema. */
const deepText = fc.tuple(fc.integer({ min: 50, max: 20_000 }), fc.boolean()).map(([depth, array]) =>
  array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth))

const PROTO = '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}'

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.constantFrom(...HUGE_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null, {}, [], ['a'], [null], { eventId: 'x' }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }
)

// ---- valid bodies, to mutate one field at a time -------------------------------------------

const FAR = '2031-05-01T10:00:00Z'
/** Targets of outbound calls stay on loopback (RELAY_ALLOW) or are refused: no URL is fuzzed into a host name. */
let TARGET = 'http://127.0.0.1:9'
const SAMPLES: Record<string, () => unknown> = {
  'POST /api/collect': () => ({ event_id: 'p1', event: 'view', user_id: 'u1', parameters: { order_id: 'o1', currency: 'KRW', price: 1 }, event_datetime: '2024-01-01T00:00:00Z' }),
  'POST /api/event': () => ({ event_id: 'p2', event: 'view', user_id: 'u1' }),
  'POST /api/collect/batch': () => ({ events: [{ event_id: 'b1', event: 'view', user_id: 'u1' }, { event_id: 'b2', event: 'buy', user_id: 'u1' }] }),
  'POST /api/search': () => ({ user_id: 'u1', event: 'view', from: '2024-01-01T00:00:00Z', limit: 10 }),
  'POST /noti/pub': () => ({ eventType: 'TEST', userId: 'u1' }),
  'POST /noti/complete/:eventId': () => ({ eventStatus: 'Y', eventDesc: 'ok' }),
  'POST /noti/events': () => [{ id: 'g1', eventType: 'VRD.ML.CompleteEvent', topic: '/t', data: { eventId: 'job-1', desc: 'ok', status: 'Y' } }],
  'POST /api/meetings': () => ({ title: 'Sync', startsAt: FAR, durationMinutes: 30, location: 'Room', participants: [{ email: 'a@example.com', name: 'A' }], organizer: { userId: 'org', email: 'org@example.com' } }),
  'PATCH /api/meetings/:id': () => ({ title: 'Sync 2', startsAt: FAR, endsAt: '2031-05-01T11:00:00Z' }),
  'POST /api/meetings/:id/participants': () => ({ participants: [{ email: 'b@example.com' }] }),
  'POST /api/meetings/:id/cancel': () => ({ reason: 'no' }),
  'POST /api/tasks': () => ({ type: 'approve', title: 'T', input: { a: 1 }, approvers: ['x@example.com'], owner: 'o' }),
  'POST /api/tasks/success': () => ({ taskToken: 't1.x', output: { ok: true } }),
  'POST /api/tasks/failure': () => ({ taskToken: 't1.x', error: 'E', cause: 'c' }),
  'POST /api/tasks/heartbeat': () => ({ taskToken: 't1.x' }),
  'POST /sfn': () => ({ taskToken: 't1.x', output: '{}' }),
  'POST /sfn/': () => ({ taskToken: 't1.x', error: 'E' }),
  'POST /api/schedules': () => ({ name: 'n', cron: '0 0 1 1 *', owner: 'o', task: { type: 't', input: {} } }),
  'GET /sync': () => ({ targetURL: TARGET, targetAPI: '/x', headers: { h: 'v' } }),
  'POST /sync': () => ({ targetURL: TARGET, targetAPI: '/x', headers: { h: 'v' }, body: { a: 1 } }),
  'POST /async': () => ({ targetURL: 'http://127.0.0.1:9', targetAPI: '/x', body: { callback_uri: 'http://127.0.0.1:9/cb' }, delivery: { retry: 0, timeout: 'PT1S' } }),
  'POST /event': () => ({ specversion: '1.0', id: 'c1', source: '/s', type: 'com.example.t', subject: 'k', data: { a: 1 } }),
  'POST /api/triggers': () => ({ name: 'fz', filter: { attributes: { type: 'com.example.t' } }, subscriber: { url: 'http://127.0.0.1:9' }, delivery: { retry: 1 } }),
  'POST /event/callback': () => ({ requestId: 'r1', result: 'ok' }),
  'POST /v1/track': () => ({ userId: 'u1', anonymousId: 'a1', event: 'view', properties: { price: 1 }, context: { ip: '10.0.0.1' }, integrations: { All: true }, messageId: 'm1', timestamp: '2024-01-01T00:00:00Z', sentAt: '2024-01-01T00:00:01Z' }),
  'POST /v1/identify': () => ({ userId: 'u1', traits: { email: 'a@example.com' }, messageId: 'm2' }),
  'POST /v1/page': () => ({ userId: 'u1', name: 'Home', properties: { url: 'x' }, messageId: 'm3' }),
  'POST /v1/screen': () => ({ anonymousId: 'a1', name: 'Home', messageId: 'm4' }),
  'POST /v1/group': () => ({ userId: 'u1', groupId: 'g1', traits: { plan: 'pro' }, messageId: 'm5' }),
  'POST /v1/alias': () => ({ userId: 'u1', previousId: 'a1', messageId: 'm6' }),
  'POST /v1/batch': () => ({ batch: [{ type: 'track', userId: 'u1', event: 'view', messageId: 'm7', originalTimestamp: '2024-01-01T00:00:00Z' }, { type: 'identify', anonymousId: 'a1', traits: {} }], context: { locale: 'de' }, sentAt: '2024-01-01T00:00:02Z' }),
  'POST /v1/import': () => ({ batch: [{ type: 'page', userId: 'u1', name: 'Home', messageId: 'm8' }] })
}
/** Fields whose values become outbound URLs: only these values, never a fuzzed host name. */
const URL_FIELD = /url|uri|api|sink/i
const URL_VALUES = ['http://127.0.0.1:9', 'http://127.0.0.1:9/x', 'http://169.254.169.254/', 'file:///etc/passwd', 'ftp://127.0.0.1/', 'not a url', '', '/relative', 'http://[::1]:9/']

/** Dotted paths to every value of a sample. */
function pathsOf (value: unknown, at = ''): string[] {
  if (typeof value !== 'object' || value === null) return [at]
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value)
  return [...(at === '' ? [] : [at]), ...entries.flatMap(([k, v]) => pathsOf(v, at === '' ? k : `${at}.${k}`))]
}

/** The sample with the value at `path` replaced (or removed). */
function mutate (sample: unknown, path: string, value: unknown, remove: boolean): unknown {
  if (path === '') return value
  const out = structuredClone(sample) as Record<string, unknown>
  const keys = path.split('.')
  let at: Record<string, unknown> = out
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>
  const last = keys.at(-1)!
  if (remove) delete at[last]
  else at[last] = URL_FIELD.test(last) && typeof value === 'string' ? URL_VALUES[value.length % URL_VALUES.length] : value
  return out
}

// ---- requests ---------------------------------------------------------------------------

interface Req {
  method: string
  url: string
  headers: Record<string, string>
  body?: string
}

/** A path segment or query value, percent-encoded; a lone surrogate as its (invalid) CESU-8 bytes. */
function encode (s: string): string {
  let out = ''
  for (const ch of s) {
    const code = ch.charCodeAt(0)
    out += code >= 0xd800 && code <= 0xdfff && ch.length === 1 ? `%ED%${(0xa0 + ((code >> 6) & 0x1f)).toString(16).toUpperCase()}%${(0x80 + (code & 0x3f)).toString(16).toUpperCase()}` : encodeURIComponent(ch)
  }
  return out
}

const rawSegment = fc.constantFrom('%', '%zz', '%ff', '%c0%ae', '%ED%A0%80', '..', '.', '%2e%2e', '%2f', '%00', 'a%0d%0ab', 'x'.repeat(3000), '%F0%9F%98%80')

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'text/plain',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/cloudevents+json', 'application/cloudevents-batch+json',
  'application/x-amz-json-1.0', 'application/octet-stream', 'application/xml', 'a/b;;;=', 'application/json\r\nx: y', '', 'json', '*/*'
]
const HEADER_NAMES = [
  'idempotency-key', 'if-match', 'jetway-seq', 'last-event-id', 'x-request-id', 'ce-specversion', 'ce-id', 'ce-source', 'ce-type',
  'x-amz-target', 'origin', 'x-intake-key', 'webhook-id', 'webhook-signature', 'webhook-timestamp', 'webhook-request-origin', 'accept',
  'accept-encoding', 'content-encoding', 'authorization', 'jetway-request-id', 'cookie', 'x-forwarded-for', 'transfer-encoding'
]

interface Ids { [param: string]: string[] }

function requestsFor (route: { method: string, url: string }, ids: Ids, querystringKeys: string[], bigBody: string): fc.Arbitrary<Req> {
  const sample = SAMPLES[`${route.method} ${route.url}`]
  // path: every :param (and a wildcard) from a real id, a hostile string, or raw bytes
  const params = [...route.url.matchAll(/:([A-Za-z0-9_]+)|\*/g)].map(m => m[1] ?? '*')
  const segment = (name: string): fc.Arbitrary<string> => fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...(ids[name] ?? ['x'])) },
    { weight: 3, arbitrary: hostileString.map(encode) },
    { weight: 1, arbitrary: rawSegment },
    { weight: 1, arbitrary: hostileString.map(s => encode(s) + '/' + encode(s)) }
  )
  const path = fc.tuple(...params.map(segment)).map(values => {
    let i = 0
    return route.url.replace(/:([A-Za-z0-9_]+)|\*/g, () => values[i++]!)
  })
  const query = fc.array(fc.tuple(
    fc.oneof(fc.constantFrom(...querystringKeys, '__proto__', 'constructor', 'access_token', 'key', 'min_seq', 'lastEventId'), hostileString),
    fc.oneof(hostileString, fc.constantFrom(...HUGE_NUMBERS).map(String))
  ), { maxLength: 4 }).map(pairs => pairs.length === 0 ? '' : '?' + pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&'))
  const headers = fc.tuple(
    fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined, freq: 2 }),
    fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), hostileString.filter(s => s.length < 10_000)), { maxLength: 3 })
  ).map(([type, pairs]) => ({ ...(type === undefined ? {} : { 'content-type': type }), ...Object.fromEntries(pairs) }))
  const json = (v: unknown): string => JSON.stringify(v) ?? 'null'
  const bodies: Array<{ weight: number, arbitrary: fc.Arbitrary<string | undefined> }> = [
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: hostileValue.map(json) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', 'null', '[]', '"x"', '1e999', '-0', '123456789012345678901234567890', '{"a":1,"a":2}', PROTO, '\ufeff{}', '{"a":"\\ud800"}', 'a=1&b=2', '\u0000') },
    { weight: 1, arbitrary: deepText },
    { weight: 1, arbitrary: fc.constant(bigBody) }
  ]
  if (sample !== undefined) {
    const paths = pathsOf(sample())
    bodies.push(
      { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...paths), hostileValue, fc.boolean()).map(([p, v, remove]) => json(mutate(sample(), p, v, remove && p !== ''))) },
      { weight: 1, arbitrary: fc.constant(sample()).map(s => Array.isArray(s) ? json(s) : PROTO.slice(0, -1) + ',' + json(s).slice(1)) },
      { weight: 1, arbitrary: fc.constant(json(sample())) }
    )
  }
  return fc.record({ path, query, headers, body: fc.oneof(...bodies) }).map(r => printable({
    method: route.method,
    url: r.path + r.query,
    // a body without a content type would be refused before anything is read: most carry one
    headers: r.body !== undefined && r.headers['content-type'] === undefined && r.query.length % 3 !== 0 ? { ...r.headers, 'content-type': 'application/json' } : r.headers,
    body: r.body
  }))
}

/** fast-check prints a counterexample with this: long values cut short (a 2 MiB body would flood the report). */
function printable (req: Req): Req {
  const cut = (s: string): string => s.length > 300 ? `${s.slice(0, 300)}…(${s.length} chars)` : s
  return Object.defineProperty(req, fc.toStringMethod, {
    value: () => JSON.stringify({ ...req, url: cut(req.url), headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, cut(v)])), body: req.body === undefined ? undefined : cut(req.body) }),
    enumerable: false
  })
}

// ---- the properties -----------------------------------------------------------------------

interface Answer { status: number, headers: IncomingHttpHeaders | Record<string, unknown>, body: string }

const deep = (depth: number, array: boolean): string => array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
const json = { 'content-type': 'application/json' }
/** Regression examples: requests fast-check found that once failed (kept as `examples`). */
const EXAMPLES: Record<string, Req[]> = {
  // JSON nested 5000 deep: parsed, then a 500 from JSON.stringify's stack when appended
  'POST /event': [{ method: 'POST', url: '/event', headers: json, body: deep(5000, false) }],
  'POST /event/callback': [{ method: 'POST', url: '/event/callback', headers: json, body: deep(20_000, true) }],
  // a HEAD of an SSE route streamed nothing and never ended (inject hung; a client waited forever)
  'HEAD /noti/users/:userId/sub': [{ method: 'HEAD', url: '/noti/users/u1/sub', headers: {} }],
  'HEAD /api/tail': [{ method: 'HEAD', url: '/api/tail', headers: {} }],
  // the origin was echoed into WebHook-Allowed-Origin: a CR LF in it was a plain-JSON 500
  'OPTIONS /noti/events': [{ method: 'OPTIONS', url: '/noti/events', headers: { 'webhook-request-origin': 'a\r\nSet-Cookie: x=1' } }]
}

t.test('every route, hostile input: no 5xx, problem+json 4xx naming the field, nothing stored from a rejected request', async t => {
  const routes: RouteOptions[] = []
  const target = await httpTarget(t)
  TARGET = target.origin
  const svc = await startService(t, {
    // no workers and an idle timer ticker: nothing appends to a stream but the requests
    env: { ROLES: 'api,projections', TIMER_TICK: '1h', OUTBOUND_TIMEOUT: '1s', RELAY_ALLOW: '127.0.0.1', SSE_HEARTBEAT: '1h' },
    onRoute: route => { routes.push(route) },
    listen: 0
  })
  const { app, runtime } = svc
  const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> }>()
  // (a HEAD answers as its GET does, headers only)
  const opOf = (method: string, url: string) => doc.paths[url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[(method === 'HEAD' ? 'GET' : method).toLowerCase()]
  // (a HEAD of one answers its headers and ends: inject() serves it)
  const isSse = (method: string, url: string): boolean => method !== 'HEAD' && opOf(method, url)?.responses['200']?.content?.['text/event-stream'] !== undefined

  // real ids, so that some requests get past "not found"
  const job = await post(app, '/noti/pub', { eventType: 'TEST', userId: 'u1' })
  const meeting = await post(app, '/api/meetings', SAMPLES['POST /api/meetings']!())
  const task = await post(app, '/api/tasks', SAMPLES['POST /api/tasks']!())
  const schedule = await post(app, '/api/schedules', SAMPLES['POST /api/schedules']!())
  const trigger = await post(app, '/api/triggers', SAMPLES['POST /api/triggers']!())
  const relay = await post(app, '/async', SAMPLES['POST /async']!())
  t.same([job, meeting, task, schedule, trigger, relay].map(r => r.statusCode), [200, 201, 201, 201, 201, 202], 'fixtures created')
  const ids: Ids = {
    eventId: [job.json().eventId as string],
    id: [meeting.json().id as string, task.json().taskId as string, schedule.json().scheduleId as string],
    email: ['a@example.com'],
    user_id: ['u1'],
    userId: ['u1'],
    name: ['fz'],
    requestId: [relay.json().requestId as string],
    token: [task.json().taskToken as string],
    seq: ['1', '0', '99999999999999999999'],
    '*': ['index.html', 'app.js', '../package.json', '%2e%2e/%2e%2e/package.json', 'vendor/preact/dist/preact.mjs']
  }
  const bigBody = JSON.stringify({ x: 'x'.repeat(2 * 1024 * 1024) })

  async function counts (): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for await (const s of runtime.jsm.streams.list()) out[s.config.name] = s.state.messages
    return out
  }

  async function send (req: Req, route: { method: string, url: string }): Promise<Answer> {
    if (!isSse(route.method, route.url)) {
      const r = await app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.body === undefined ? {} : { payload: req.body }) })
      return { status: r.statusCode, headers: r.headers, body: r.body }
    }
    return await sendHttp(svc.url, req)
  }
  /** What is wrong with an answer, or undefined. */
  function judge (route: { method: string, url: string }, a: Answer, req: Req): string | undefined {
    const op = opOf(route.method, route.url)
    const declared = (status: number): Record<string, unknown> | undefined => op?.responses[String(status)]?.content ?? (status >= 500 ? undefined : op?.responses.default?.content)
    if (a.status >= 500) {
      const gateway = (a.status === 502 || a.status === 504) && op?.responses[String(a.status)] !== undefined
      // a transfer coding other than chunked is not understood (RFC 9112 6.1)
      const coding = req.headers['transfer-encoding']
      const notImplemented = a.status === 501 && coding !== undefined && coding.split(',').some(c => c.trim().toLowerCase() !== 'chunked')
      if (!gateway && !notImplemented) return `${a.status}: ${a.body.slice(0, 300)}`
    }
    if (a.status < 400) return undefined
    const type = String(a.headers['content-type'] ?? '').split(';')[0]!
    const own = declared(a.status)
    if (type !== 'application/problem+json') {
      if (own !== undefined && own[type] !== undefined) return undefined
      return `${a.status} as ${type || '(no content type)'}: ${a.body.slice(0, 200)}`
    }
    if (route.method === 'HEAD') return undefined // the headers of the GET's answer, no body
    let problem: { status?: unknown, title?: unknown, code?: unknown, errors?: Array<{ field?: unknown }> }
    try {
      problem = JSON.parse(a.body)
    } catch {
      return `${a.status}: a problem body that is not JSON: ${a.body.slice(0, 200)}`
    }
    if (problem.status !== a.status || typeof problem.title !== 'string' || problem.title === '') return `${a.status}: problem without status/title: ${a.body.slice(0, 200)}`
    if (problem.code === 'JETWAY_VALIDATION' && (!Array.isArray(problem.errors) || problem.errors.length === 0 || problem.errors.some(e => typeof e.field !== 'string' || e.field === ''))) {
      return `400 validation problem naming no field: ${a.body.slice(0, 300)}`
    }
    return undefined
  }

  // every method of every route (HEAD twins too: Fastify answers them apart)
  const fuzzed = routes.flatMap(r => (Array.isArray(r.method) ? r.method : [r.method]).map(method => ({ method, url: r.url, querystring: r.schema?.querystring as { properties?: Record<string, unknown> } | undefined })))
  const seen = new Set<string>()
  const list = fuzzed.filter(r => { const k = `${r.method} ${r.url}`; if (seen.has(k)) return false; seen.add(k); return true })
  const perRoute = Math.max(5, Math.ceil(RUNS / list.length))
  t.comment(`seed ${SEED} (JETWAY_FUZZ_SEED=${SEED} replays this run)`)
  let sent = 0
  const started = Date.now()
  for (const route of list) {
    const key = `${route.method} ${route.url}`
    const arb = requestsFor(route, ids, Object.keys(route.querystring?.properties ?? {}), bigBody)
    await t.resolves(fc.assert(fc.asyncProperty(arb, async req => {
      const before = await counts()
      const answer = await send(req, route)
      sent++
      const wrong = judge(route, answer, req)
      if (wrong !== undefined) throw new Error(`${key}: ${req.method} ${req.url.slice(0, 200)} → ${wrong}`)
      if (Object.keys(Object.prototype).length > 0 || ({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype polluted')
      // A relay call whose target could not be called (refused by the SSRF guard, a header it
      // cannot send, unreachable) was accepted: the relay records it and its outcome in RELAY.
      if (answer.status >= 400 && !isOutboundOutcome(answer)) {
        const after = await counts()
        const changed = Object.keys(after).filter(s => after[s] !== before[s])
        if (changed.length > 0) throw new Error(`${key}: a rejected request (${answer.status}) stored messages in ${changed.join(', ')}`)
      }
    }), { numRuns: perRoute, seed: SEED, examples: (EXAMPLES[key] ?? []).map(r => [r] as [Req]), endOnFailure: process.env.JETWAY_FUZZ_SHRINK === undefined }), key)
  }
  // below the router: bytes Node's HTTP parser refuses (CR, LF, NUL in a header value or the
  // path, a bare LF line end, a space in the path, a header name that is not a token)
  const port = Number(new URL(svc.url).port)
  const rawRequest = fc.tuple(
    fc.constantFrom('GET', 'POST', 'G\u0000T', 'GET /x', ''),
    fc.oneof(fc.constantFrom('/healthz', '/api/collect', '/noti/jobs/x'), hostileString.map(v => `/api/event/${v}`)),
    fc.constantFrom('x-request-id', 'idempotency-key', 'content-type', 'bad name', 'bad\u0000name', 'x:y', ''),
    hostileString,
    fc.constantFrom('\r\n', '\n', '\r')
  ).map(([method, path, name, value, eol]) => `${method} ${path} HTTP/1.1${eol}Host: 127.0.0.1${eol}${name}: ${value}${eol}Connection: close${eol}${eol}`)
  await t.resolves(fc.assert(fc.asyncProperty(rawRequest, async raw => {
    const before = await counts()
    const answer = await sendRaw(port, raw)
    sent++
    if (answer === undefined) return // closed with no answer (Node does so for some)
    if (answer.status >= 500) throw new Error(`${JSON.stringify(raw)} → ${answer.status}`)
    if (answer.status >= 400) {
      const type = String(answer.headers['content-type'] ?? '')
      if (!type.startsWith('application/problem+json') && !type.startsWith('text/html')) throw new Error(`${JSON.stringify(raw)} → ${answer.status} as ${type}: ${answer.body.slice(0, 200)}`)
      const after = await counts()
      if (Object.keys(after).some(k => after[k] !== before[k])) throw new Error(`${JSON.stringify(raw)}: a rejected request stored messages`)
    }
  }), {
    numRuns: Math.max(50, Math.ceil(RUNS / 20)),
    seed: SEED,
    examples: [
    // once Fastify's own {"error":"Bad Request","message":"Client Error"} JSON, not a problem body
      ['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-request-id: a\u0000b\r\nConnection: close\r\n\r\n'],
      ['GET /api/event/a\rb HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n']
    ]
  }), 'raw HTTP')

  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the app still answers /healthz')
  t.ok(list.length >= 60, `${list.length} routes fuzzed`)
  t.comment(`${sent} requests in ${Math.round((Date.now() - started) / 1000)} s (${perRoute} a route)`)
})

function isOutboundOutcome (a: Answer): boolean {
  return String(a.headers['content-type']).startsWith('application/problem+json') && /"code":"JETWAY_OUTBOUND_[A-Z_]+"/.test(a.body)
}

/** Raw bytes to the listening server; its answer as parsed from the wire (undefined: closed with none). */
async function sendRaw (port: number, raw: string): Promise<Answer | undefined> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.setTimeout(15_000, () => { socket.destroy(new Error(`no answer in 15 s to ${JSON.stringify(raw.slice(0, 100))}`)) })
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', () => { resolve(Buffer.concat(chunks).toString('latin1')) })
    socket.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') resolve(Buffer.concat(chunks).toString('latin1')); else reject(err) })
    socket.end(Buffer.from(raw, 'utf8'))
  })
  const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text)
  if (m === null) return undefined
  const headers = Object.fromEntries(m[2]!.split('\r\n').map(l => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(m[1]), headers, body: m[3]! }
}

/** An SSE route over real HTTP: the status and headers, then hang up (a 200 would stream forever). */
async function sendHttp (base: string, req: Req): Promise<Answer> {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) {
    // Node's client would frame the body by it (inject() sends it as it is)
    if (k === 'transfer-encoding') continue
    try {
      validateHeaderName(k)
      validateHeaderValue(k, v)
      headers[k] = v
    } catch {} // node's own client refuses it: inject() covers such headers on the other routes
  }
  return await new Promise<Answer>((resolve, reject) => {
    const r = httpRequest(`${base}${req.url}`, { method: req.method, headers }, res => {
      if (res.statusCode === 200) {
        resolve({ status: 200, headers: res.headers, body: '' })
        res.destroy()
        return
      }
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    r.on('error', reject)
    r.setTimeout(15_000, () => { r.destroy(new Error(`no answer in 15 s to ${req.method} ${req.url.slice(0, 100)}`)) })
    // (a HEAD with a body: Node's client reads the server's answer to the body's bytes as a second response)
    r.end(req.method === 'HEAD' ? undefined : req.body)
  })
}
