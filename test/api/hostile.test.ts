import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { gzipSync } from 'node:zlib'
import type { LightMyRequestResponse } from 'fastify'
import { startService, post, countOn } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { MAX_JSON_DEPTH } from '../../src/lib/json-nesting.js'

// Hostile input, as an attacker would send it: each must be a 4xx problem+json body naming the
// field, never a 500, and nothing of the rejected request may be stored.

// event_datetime without an offset is UTC, whatever the server's time zone
process.env.TZ = 'Asia/Seoul'

const good = { event_id: 'e1', event: 'view', user_id: 'u1' }
const json = { 'content-type': 'application/json' }
const cloudevent = { 'content-type': 'application/cloudevents+json' }
const ce = (fields: object) => JSON.stringify({ specversion: '1.0', source: '/ml/runner', type: 'vrd.ml.CompleteEvent', ...fields })

function refused (t: Test, r: LightMyRequestResponse, field: string, what: string): void {
  t.ok(r.statusCode >= 400 && r.statusCode < 500, `${what}: 4xx (got ${r.statusCode})`)
  t.equal(r.headers['content-type'], 'application/problem+json', `${what}: a problem body`)
  let problem: { status?: number, errors?: { field: string }[] } = {}
  try {
    problem = r.json()
  } catch {}
  t.equal(problem.status, r.statusCode, `${what}: status in the body`)
  t.ok(problem.errors?.some(e => e.field === field), `${what}: names ${field} (${JSON.stringify(problem.errors)})`)
}

t.test('hostile ids, user ids, names and sizes: 4xx naming the field, nothing stored', async t => {
  const { app, runtime } = await startService(t)
  const send = async (method: 'GET' | 'POST', url: string, payload?: string, headers: Record<string, string> = json) =>
    await app.inject({ method, url, payload, headers: payload === undefined ? {} : headers })

  const cases: [string, () => Promise<LightMyRequestResponse>, string][] = [
    // a CR or LF in a job id
    ['CR LF in /noti/complete path', async () => await send('POST', '/noti/complete/%0d%0aX', '{"eventStatus":"Y"}'), 'eventId'],
    ['DEL in /noti/complete path', async () => await send('POST', '/noti/complete/X%7F', '{"eventStatus":"Y"}'), 'eventId'],
    ['leading space in /noti/complete path', async () => await send('POST', '/noti/complete/%20X', '{"eventStatus":"Y"}'), 'eventId'],
    ['LF in /noti/jobs path', async () => await send('GET', '/noti/jobs/a%0ab'), 'eventId'],
    ['CR LF in an Event Grid id', async () => await send('POST', '/noti/events', JSON.stringify([{ id: 'job\r\nX', eventType: 'VRD.ML.CompleteEvent', data: {} }])), '0.id'],
    ['LF in an Event Grid data.eventId', async () => await send('POST', '/noti/events', JSON.stringify([{ id: 'g1', eventType: 'VRD.ML.CompleteEvent', data: { eventId: 'a\nb' } }])), '0.data.eventId'],
    ['CR LF in a CloudEvent id', async () => await send('POST', '/noti/events', ce({ id: 'run\r\n42' }), cloudevent), 'id'],
    ['a control character in a CloudEvent type', async () => await send('POST', '/noti/events', ce({ id: 'run-43', type: 'vrd.\u0001CompleteEvent' }), cloudevent), 'type'],
    // a 100,000-character CloudEvent id: once beyond JOBS's message size, then a 500 from the error handler
    ['a 100,000-character CloudEvent id', async () => await send('POST', '/noti/events', ce({ id: 'x'.repeat(100_000), data: { eventId: 'job-1' } }), cloudevent), 'id'],
    ['a 100,000-character CloudEvent id naming the job', async () => await send('POST', '/noti/events', ce({ id: 'x'.repeat(100_000) }), cloudevent), 'id'],
    ['a 100,000-character Event Grid id', async () => await send('POST', '/noti/events', JSON.stringify([{ id: 'x'.repeat(100_000), eventType: 'A.CompleteEvent', data: { eventId: 'job-1' } }])), '0.id'],
    // the same size limit for the same field on every route
    ['a 900 KB Event Grid data.desc', async () => await send('POST', '/noti/events', JSON.stringify([{ id: 'job-2', eventType: 'A.CompleteEvent', data: { desc: 'd'.repeat(900_000) } }])), '0.data.desc'],
    ['a 2,001-character CloudEvent data.reason', async () => await send('POST', '/noti/events', ce({ id: 'job-3', type: 'a.FailEvent', data: { reason: 'r'.repeat(2001) } }), cloudevent), 'data.reason'],
    ['a 2,001-character eventDesc', async () => await send('POST', '/noti/complete/job-4', JSON.stringify({ eventStatus: 'N', eventDesc: 'r'.repeat(2001) })), 'eventDesc'],
    ['a control character in eventDesc', async () => await send('POST', '/noti/complete/job-4', JSON.stringify({ eventStatus: 'N', eventDesc: 'bad\u0000desc' })), 'eventDesc'],
    // a lone UTF-16 surrogate (raw JSON: \ud800 escapes parse to one)
    ['a lone surrogate in user_id', async () => await send('POST', '/api/collect', '{"event_id":"s1","event":"view","user_id":"u\\ud800"}'), 'user_id'],
    ['a lone surrogate in event', async () => await send('POST', '/api/collect', '{"event_id":"s2","event":"v\\udc00","user_id":"u1"}'), 'event'],
    ['a lone surrogate in event_id', async () => await send('POST', '/api/collect', '{"event_id":"\\ud83d","event":"view","user_id":"u1"}'), 'event_id'],
    ['a lone surrogate in /noti/pub userId', async () => await send('POST', '/noti/pub', '{"eventType":"TEST","userId":"\\udfff"}'), 'userId'],
    ['a lone surrogate in an Event Grid id', async () => await send('POST', '/noti/events', '[{"id":"j\\ud800","eventType":"A.CompleteEvent"}]'), '0.id'],
    // control characters (C0, DEL, C1) in ids, user ids and event names
    ['CR LF in event_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_id: 'e\r\n1' })), 'event_id'],
    ['NUL in user_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, user_id: 'u\u0000' })), 'user_id'],
    ['BEL in event', async () => await send('POST', '/api/event', JSON.stringify({ ...good, event: 'vi\u0007ew' })), 'event'],
    ['DEL in event_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_id: 'e1\u007f' })), 'event_id'],
    ['C1 NEL in user_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, user_id: 'u\u0085' })), 'user_id'],
    ['LF in /noti/pub userId', async () => await send('POST', '/noti/pub', JSON.stringify({ eventType: 'TEST', userId: 'a\nb' })), 'userId'],
    ['ESC in a search user_id', async () => await send('GET', '/api/event/u%1b1'), 'user_id'],
    // an event_id with a space at either end would be another id that looks the same
    ['leading space in event_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_id: ' e1' })), 'event_id'],
    ['trailing space in event_id', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_id: 'e1 ' })), 'event_id'],
    // a path that is not percent-encoded UTF-8 (a lone surrogate's CESU-8 bytes, a bare 0xFF)
    ['a lone surrogate in a path', async () => await send('POST', '/noti/complete/%ED%A0%80', '{"eventStatus":"Y"}'), '(path)'],
    ['invalid UTF-8 in a path', async () => await send('GET', '/api/event/%ff'), '(path)'],
    ['a path parameter over any limit', async () => await send('GET', `/api/event/${'u'.repeat(3000)}`), '(path)'],
    ['a user_id in a path over the user_id limit', async () => await send('GET', `/api/event/${'u'.repeat(201)}`), 'user_id'],
    // an offset that pushes a time out of the years the seed's format prints
    ['an event_datetime past year 9999', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_datetime: '9999-12-31T23:59:59-23:59' })), 'event_datetime'],
    ['an event_datetime before year 0', async () => await send('POST', '/api/collect', JSON.stringify({ ...good, event_datetime: '0000-01-01T00:00:00+00:01' })), 'event_datetime']
  ]
  for (const [what, request, field] of cases) refused(t, await request(), field, what)

  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 0, 'nothing appended to COLLECT')
  t.equal((await runtime.jsm.streams.info('JOBS')).state.messages, 0, 'nothing appended to JOBS')

  // the same limit accepted on every route: 2,000 characters of description
  const desc = 'd'.repeat(2000)
  const [job5, job6, job7] = await Promise.all([1, 2, 3].map(async () => (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'u1' })).json().eventId as string))
  t.equal((await send('POST', `/noti/complete/${job5!}`, JSON.stringify({ eventStatus: 'N', eventDesc: desc }))).statusCode, 200)
  t.equal((await send('POST', '/noti/events', JSON.stringify([{ id: job6, eventType: 'A.FailEvent', data: { desc } }]))).statusCode, 200)
  t.equal((await send('POST', '/noti/events', ce({ id: job7, type: 'a.FailEvent', data: { reason: `multi\nline\ttext ${desc.slice(16)}` } }), cloudevent)).statusCode, 200)
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 3)

  // the same limit in a path as in a body: a 200-character user id (even all non-ASCII)
  t.equal((await send('GET', `/api/event/${'u'.repeat(200)}`)).statusCode, 200)
  t.equal((await send('GET', `/api/event/${encodeURIComponent('\u{1F600}'.repeat(100))}`)).statusCode, 200)

  // in a batch, a bad event_id rejects that event only
  const batch = await post(app, '/api/collect/batch', { events: [{ ...good, event_id: 'b1' }, { ...good, event_id: 'b\r\n2' }, { ...good, event_id: ' b3' }, { ...good, event_id: 'b4' }] })
  t.equal(batch.statusCode, 200)
  t.match(batch.json(), {
    is_success: false,
    accepted: 2,
    rejected: 2,
    results: [
      { index: 0, status: 'accepted' },
      { index: 1, status: 'rejected', errors: [{ field: 'events.1.event_id' }] },
      { index: 2, status: 'rejected', errors: [{ field: 'events.2.event_id' }] },
      { index: 3, status: 'accepted' }
    ]
  })
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 2, 'the batch appended its good events only')
})

t.test('event_datetime without an offset is UTC', async t => {
  const { app } = await startService(t)
  const r = await post(app, '/api/collect', { ...good, event_id: 'tz-1', event_datetime: '2024-03-01T09:00:00.5' })
  t.equal(r.statusCode, 200)
  const found = await app.inject({ url: `/api/event/u1?min_seq=${r.headers['jetway-seq'] as string}` })
  t.equal(found.json().items[0].event_datetime, '2024-03-01T09:00:00.500000Z')
  const offset = await post(app, '/api/collect', { ...good, event_id: 'tz-2', event_datetime: '2024-03-01T09:00:00+09:00' })
  const both = await app.inject({ url: `/api/event/u1?min_seq=${offset.headers['jetway-seq'] as string}` })
  t.same(both.json().items.map((e: { event_datetime: string }) => e.event_datetime), ['2024-03-01T00:00:00.000000Z', '2024-03-01T09:00:00.500000Z'])
})

t.test('a client x-request-id is kept only when short printable ASCII', async t => {
  const { app } = await startService(t)
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
  const idOf = async (id: string) => (await app.inject({ url: '/healthz', headers: { 'x-request-id': id } })).headers['x-request-id']
  t.equal(await idOf('trace-1234'), 'trace-1234', 'a good id is echoed')
  t.match(await idOf('r'.repeat(129)), UUID, 'too long: replaced')
  t.equal(await idOf('r'.repeat(128)), 'r'.repeat(128))
  t.match(await idOf('has space'), UUID, 'a space: replaced')
  t.match(await idOf('tab\there'), UUID, 'a control character: replaced')
  t.match(await idOf('caf\u00e9'), UUID, 'non-ASCII: replaced')
  const problem = await app.inject({ url: '/nowhere', headers: { 'x-request-id': 'x'.repeat(5000) } })
  t.equal(problem.statusCode, 404)
  t.match(problem.headers['x-request-id'], UUID)
})

t.test('meetings: control characters and lone surrogates in names, user ids and text are refused, nothing stored', async t => {
  const { app, runtime } = await startService(t)
  const meeting = (over: object) => JSON.stringify({
    title: 'Sync',
    startsAt: '2030-01-01T10:00:00Z',
    durationMinutes: 30,
    location: 'Room',
    participants: [{ email: 'a@example.com' }],
    organizer: { userId: 'org', email: 'org@example.com' },
    ...over
  })
  const create = async (over: object) => await app.inject({ method: 'POST', url: '/api/meetings', payload: meeting(over), headers: json })
  refused(t, await create({ organizer: { userId: 'org\r\nX', email: 'org@example.com' } }), 'organizer.userId', 'CR LF in organizer.userId')
  refused(t, await create({ title: 'Sync\u0000' }), 'title', 'NUL in the title')
  refused(t, await create({ location: 'Room\uD800' }), 'location', 'a lone surrogate in the location')
  refused(t, await create({ participants: [{ email: 'a@example.com', name: 'Ann\u001B[31m' }] }), 'participants.0.name', 'ESC in a participant name')
  refused(t, await create({ description: 'ok\u0007' }), 'description', 'BEL in the description')
  t.equal((await runtime.jsm.streams.info('MEETINGS')).state.messages, 0, 'nothing stored')
  t.equal((await create({ description: 'line one\nline two\ttabbed' })).statusCode, 201, 'line breaks and tabs are text')
})

t.test('JSON nested 5,000 deep, on every route that takes JSON: 400 "nested too deeply", never a 500, nothing stored', async t => {
  const target = await httpTarget(t)
  const { app, runtime } = await startService(t, { env: { RELAY_ALLOW: '127.0.0.1', ROLES: 'api,projections' } })
  /** JSON text of `{"a":{"a":…1}}`, `depth` objects deep */
  const deep = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  const deepText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)
  /** the JSON of `value` with its "NESTED" string replaced by `text` (JSON.stringify cannot write it) */
  const withNested = (value: unknown, text = deep(5000)): string => JSON.stringify(value).replace('"NESTED"', text)
  const send = async (url: string, value: unknown, headers: Record<string, string> = json, method: 'POST' | 'GET' = 'POST') =>
    await app.inject({ method, url, payload: withNested(value), headers })
  const task = await post(app, '/api/tasks', { type: 'approve', title: 'T', input: { a: 1 }, approvers: ['x@example.com'], owner: 'o' })
  t.equal(task.statusCode, 201)
  const taskToken = task.json().taskToken as string
  const streams = async (): Promise<number[]> => await Promise.all(['TASKS', 'RELAY', 'COLLECT', 'JOBS'].map(async s => (await runtime.jsm.streams.info(s)).state.messages))
  const before = await streams()

  // JSON.stringify recurses: a value parsed from a 5,000-deep body would overflow its stack
  const nested = 'NESTED'
  const ceAttributes = { specversion: '1.0', id: 'n1', source: '/s', type: 'com.example.t' }
  const cases: [string, () => Promise<LightMyRequestResponse>][] = [
    ['POST /api/tasks/success output', async () => await send('/api/tasks/success', { taskToken, output: nested })],
    ['POST /sync body', async () => await send('/sync', { targetURL: target.origin, targetAPI: '/x', body: nested })],
    ['GET /sync body', async () => await send('/sync', { targetURL: target.origin, targetAPI: '/x', headers: { a: nested } }, json, 'GET')],
    ['POST /async body', async () => await send('/async', { targetURL: target.origin, targetAPI: '/x', body: nested })],
    ['POST /api/tasks input', async () => await send('/api/tasks', { type: 'approve', title: 'T', input: nested, approvers: ['x@example.com'], owner: 'o' })],
    ['POST /api/schedules task.input', async () => await send('/api/schedules', { name: 'n', cron: '0 0 1 1 *', owner: 'o', task: { type: 't', input: nested } })],
    ['POST /event structured data', async () => await send('/event', { ...ceAttributes, data: nested }, cloudevent)],
    ['POST /event batch data', async () => await send('/event', [{ ...ceAttributes, data: nested }], { 'content-type': 'application/cloudevents-batch+json' })],
    ['POST /event binary data', async () => await send('/event', nested, { ...json, 'ce-specversion': '1.0', 'ce-id': 'n2', 'ce-source': '/s', 'ce-type': 'com.example.t' })],
    ['POST /event plain', async () => await send('/event', { targetURL: target.origin, targetAPI: '/x', body: nested })],
    ['POST /event/callback', async () => await send('/event/callback', { result: nested })],
    ['POST /api/collect parameters', async () => await send('/api/collect', { ...good, parameters: nested })],
    ['POST /api/collect/batch', async () => await send('/api/collect/batch', { events: [{ ...good, parameters: nested }] })],
    ['POST /noti/events data', async () => await send('/noti/events', { ...ceAttributes, type: 'a.CompleteEvent', data: nested }, cloudevent)],
    ['POST /api/meetings', async () => await send('/api/meetings', { title: nested })]
  ]
  for (const [what, request] of cases) {
    const r = await request()
    t.equal(r.statusCode, 400, `${what}: 400 (got ${r.statusCode}: ${r.body.slice(0, 200)})`)
    t.equal(r.headers['content-type'], 'application/problem+json', `${what}: a problem body`)
    t.match(r.json(), { status: 400, errors: [{ field: '(body)', message: 'is nested too deeply' }] }, `${what}: names the body`)
  }
  // Step Functions' output is JSON text in a string: the same bound, in AWS's error shape
  const sfn = await app.inject({ method: 'POST', url: '/sfn', payload: JSON.stringify({ taskToken, output: deepText(5000) }), headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.SendTaskSuccess' } })
  t.equal(sfn.statusCode, 400, `/sfn output: 400 (got ${sfn.statusCode}: ${sfn.body.slice(0, 200)})`)
  t.match(sfn.json(), { __type: 'com.amazonaws.sfn#InvalidOutput' })
  t.same(await streams(), before, 'nothing stored')
  t.equal(target.received.length, 0, 'nothing relayed')

  // nesting within the bound is data like any other
  const fine = await app.inject({ method: 'POST', url: '/api/tasks/success', payload: withNested({ taskToken, output: nested }, deep(MAX_JSON_DEPTH - 2)), headers: json })
  t.equal(fine.statusCode, 200, `${MAX_JSON_DEPTH - 2} levels of output are taken (got ${fine.statusCode}: ${fine.body.slice(0, 200)})`)
})

t.test('refused when created, naming the field: a relay targetAPI with CR, LF, NUL or a lone surrogate; a trigger to a loopback or metadata address', async t => {
  const { app, runtime } = await startService(t, { env: { ROLES: 'api,projections' } })
  const relayBefore = (await runtime.jsm.streams.info('RELAY')).state.messages
  for (const targetAPI of ['/a\r\nHost: evil', '/a\nb', '/a\rb', '/a\u0000b', '/a\ud800', '/a\u0085b']) {
    const what = `targetAPI ${JSON.stringify(targetAPI)}`
    const body = JSON.stringify({ targetURL: 'http://127.0.0.1:9', targetAPI })
    refused(t, await app.inject({ method: 'POST', url: '/async', payload: body, headers: json }), 'targetAPI', `/async ${what}`)
    refused(t, await app.inject({ method: 'POST', url: '/sync', payload: body, headers: json }), 'targetAPI', `/sync ${what}`)
  }
  refused(t, await post(app, '/async', { targetURL: 'http://127.0.0.1:9/\n', targetAPI: '/a' }), 'targetURL', '/async targetURL with LF')

  const trigger = (url: string, over: object = {}) => post(app, '/api/triggers', { name: 't1', subscriber: { url }, ...over })
  for (const url of ['http://127.0.0.1:9/', 'http://127.1.2.3/', 'http://[::1]:9/', 'http://169.254.169.254/latest/meta-data', 'http://[fd00:ec2::254]/', 'http://localhost:9/', 'http://api.localhost/', 'http://[::ffff:127.0.0.1]/', 'http://10.0.0.1/', 'http://0.0.0.0/']) {
    refused(t, await trigger(url), 'subscriber.url', `a trigger to ${url}`)
  }
  refused(t, await trigger('https://hooks.example.com/x', { delivery: { deadLetterSink: { url: 'http://127.0.0.1:9/dlq' } } }), 'delivery.deadLetterSink.url', 'a dead-letter sink on loopback')
  t.equal((await runtime.jsm.streams.info('RELAY')).state.messages, relayBefore, 'nothing stored')
  t.equal((await trigger('https://hooks.example.com/x')).statusCode, 201, 'a public host name is taken (its addresses are judged when a delivery connects)')
})

t.test('RELAY_ALLOW lets a trigger to a loopback subscriber be created', async t => {
  const { app } = await startService(t, { env: { ROLES: 'api,projections', RELAY_ALLOW: '127.0.0.0/8,localhost' } })
  t.equal((await post(app, '/api/triggers', { name: 't1', subscriber: { url: 'http://127.0.0.1:9/' } })).statusCode, 201)
  t.equal((await post(app, '/api/triggers', { name: 't2', subscriber: { url: 'http://localhost:9/' } })).statusCode, 201)
  refused(t, await post(app, '/api/triggers', { name: 't3', subscriber: { url: 'http://[::1]:9/' } }), 'subscriber.url', 'IPv6 loopback is not in the list')
})

/** Raw bytes to a listening server; everything it sent back before it closed the connection. */
async function rawExchange (port: number, request: Buffer | string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', () => { resolve(Buffer.concat(chunks).toString('latin1')) })
    socket.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') resolve(Buffer.concat(chunks).toString('latin1')); else reject(err) })
    // (not end(): a request's FIN before its answer makes Node drop the request)
    socket.write(request)
  })
}

/** Status, headers (lowercase names) and body of a raw answer. */
function parseAnswer (text: string): { status: number, headers: Record<string, string>, body: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n', 2)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(lines.map(l => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

t.test('below the router, over raw sockets: CONNECT, a request without Host, a transfer coding other than chunked: problem bodies', async t => {
  const { url, runtime } = await startService(t, { listen: 0 })
  const port = Number(new URL(url).port)
  const event = JSON.stringify({ ...good, event_id: 'raw-1' })
  const problem = (what: string, text: string, status: number, field?: string): void => {
    const answer = parseAnswer(text)
    t.equal(answer.status, status, `${what}: ${status} (got ${text.slice(0, 120)})`)
    t.equal(answer.headers['content-type'], 'application/problem+json', `${what}: a problem body`)
    let body: { status?: number, errors?: { field: string }[] } = {}
    try {
      body = JSON.parse(answer.body)
    } catch {}
    t.equal(body.status, status, `${what}: its status in the body`)
    if (field !== undefined) t.ok(body.errors?.some(e => e.field === field), `${what}: names ${field} (${answer.body})`)
  }

  problem('CONNECT', await rawExchange(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'), 501)
  problem('HTTP/1.1 without Host', await rawExchange(port, `POST /api/collect HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${event.length}\r\nConnection: close\r\n\r\n${event}`), 400, 'Host')
  problem('HTTP/1.1 GET without Host', await rawExchange(port, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'Host')
  const gzipped = gzipSync(event)
  const chunked = Buffer.concat([Buffer.from(`${gzipped.length.toString(16)}\r\n`), gzipped, Buffer.from('\r\n0\r\n\r\n')])
  for (const coding of ['gzip, chunked', 'deflate, chunked', 'br,chunked', 'x-custom, chunked']) {
    problem(`Transfer-Encoding: ${coding}`, await rawExchange(port, Buffer.concat([Buffer.from(`POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n`), chunked])), 501, 'Transfer-Encoding')
  }
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 0, 'nothing stored')

  // what stays as it was: HTTP/1.0 needs no Host, chunked alone is read
  t.equal(parseAnswer(await rawExchange(port, 'GET /healthz HTTP/1.0\r\n\r\n')).status, 200, 'HTTP/1.0 without Host')
  const plain = Buffer.from(event)
  const ok = parseAnswer(await rawExchange(port, Buffer.concat([Buffer.from('POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'), Buffer.from(`${plain.length.toString(16)}\r\n`), plain, Buffer.from('\r\n0\r\n\r\n')])))
  t.equal(ok.status, 200, `chunked alone: ${JSON.stringify(ok)}`)
})
