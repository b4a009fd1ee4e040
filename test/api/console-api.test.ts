import t from 'tap'
import { createSigner } from 'fast-jwt'
import { startService, post, seqOf } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { readSse } from '../fixtures/sse-fetch.js'
import { eventIdFor } from '../../src/api/jobs.js'
import { appendEvent } from '../../src/store/events.js'
import { Subjects } from '../../src/store/subjects.js'
import { Events } from '../../src/schema/events/index.js'
import { httpTarget } from '../fixtures/http-target.js'

// What the console reads: the caller, job listings, the operator's views (streams, consumers,
// read models, dead letters with replay) and the live tail of every stream, in both auth modes.

const SECRET = 'a-test-secret-of-enough-length'
const sign = createSigner({ key: SECRET, expiresIn: 600_000 })
const bearer = (claims: object) => ({ authorization: `Bearer ${sign(claims)}` })

t.test('off mode: whoami, job listing, overview, streams and consumers', async t => {
  const { app } = await startService(t)
  const me = (await app.inject({ url: '/api/whoami' })).json()
  t.match(me, { authMode: 'off', userId: null, admin: true })
  t.same(me.streams, ['COLLECT', 'DLQ', 'ERASURES', 'JOBS', 'LEASES', 'MEETINGS', 'NOTIFY', 'RELAY', 'TASKS'])

  const ids: string[] = []
  for (const user of ['ann', 'bob', 'ann']) ids.push((await post(app, '/noti/pub', { eventType: 'TRAINING', userId: user })).json().eventId)
  const seq = (await app.inject({ url: `/noti/jobs/${ids[2]!}?min_seq=JOBS:3` })).json()
  t.equal(seq.status, 'PENDING')
  const all = (await app.inject({ url: '/api/jobs' })).json()
  t.same(all.items.map((j: { eventId: string }) => j.eventId), [...ids].reverse(), 'newest first')
  t.match(all.items[0], { userId: 'ann', eventType: 'TRAINING', status: 'PENDING', eventStatus: null })
  const anns = (await app.inject({ url: '/api/jobs?userId=ann&limit=1' })).json()
  t.same(anns.items.map((j: { eventId: string }) => j.eventId), [ids[2]])
  const page2 = (await app.inject({ url: `/api/jobs?userId=ann&limit=1&cursor=${anns.nextCursor as string}` })).json()
  t.same(page2.items.map((j: { eventId: string }) => j.eventId), [ids[0]])
  t.equal(page2.nextCursor, null)
  t.same((await app.inject({ url: '/api/jobs?status=Y' })).json().items, [])

  // the jobs' timeouts are another read model (timers-jobs), which min_seq=JOBS:3 above did not wait for
  const overview = await until('the three timeouts armed', async () => {
    const o = (await app.inject({ url: '/api/admin/overview' })).json()
    return o.timers.pending === 3 ? o : undefined
  })
  t.match(overview.instance, { roles: ['api', 'projections', 'workers'], authMode: 'off', nats: { connected: true } })
  const jobs = overview.streams.find((s: { name: string }) => s.name === 'JOBS')
  t.match(jobs, { messages: 3, lastSeq: 3, replicas: 1, storage: 'file' })
  t.ok(jobs.bytes > 0)
  t.match(overview.consumers.find((c: { name: string }) => c.name === 'completion-worker'), { stream: 'JOBS', pending: 0, ackPending: 0, filter: 'jobs.completed.>' })
  t.notOk(overview.consumers.some((c: { name: string }) => c.name.length > 30 && !c.name.includes('-')), 'no ephemeral consumers')
  t.match(overview.projections.find((p: { name: string }) => p.name === 'jobs'), { stream: 'JOBS', appliedSeq: 3, lag: 0, rebuilding: false })
  t.same(overview.deadLetters, { letters: 0, replayed: 0 })
  t.equal(overview.requests.perSecond.length, 60)
  t.ok(overview.requests.total >= 5, 'requests are counted')
  t.ok(overview.requests.average > 0)
  t.same(overview.timers, { pending: 3 }, 'each job armed its timeout')

  t.same((await app.inject({ url: '/api/admin/streams' })).json().items.map((s: { name: string }) => s.name), me.streams)

  // the console's files: its own and the vendored ES modules, nothing else of node_modules
  const bare = await app.inject({ url: '/console' })
  t.equal(bare.statusCode, 302)
  t.equal(bare.headers.location, '/console/')
  const index = await app.inject({ url: '/console/' })
  t.equal(index.statusCode, 200)
  t.match(index.headers['content-security-policy'], /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/)
  t.match(index.body, /<script type="importmap">/)
  for (const path of ['app.js', 'styles.css', 'vendor/preact/dist/preact.mjs', 'vendor/preact/hooks/dist/hooks.mjs', 'vendor/htm/dist/htm.module.js']) {
    const file = await app.inject({ url: `/console/${path}` })
    t.equal(file.statusCode, 200, path)
    if (path.endsWith('js')) t.match(file.headers['content-type'], /javascript/, `${path} is a script`)
  }
  t.equal((await app.inject({ url: '/console/vendor/preact/package.json' })).statusCode, 404)
  t.equal((await app.inject({ url: '/console/vendor/htm/dist/htm.js' })).statusCode, 404)
  t.ok((await app.inject({ url: '/api/admin/consumers' })).json().items.some((c: { name: string, stream: string }) => c.stream === 'NOTIFY' && c.name === 'notification-service-group'))
})

t.test('the tail: stored history, then live events of every stream, filtered by type, resumed by id', async t => {
  const svc = await startService(t, { listen: 0 })
  const { app, url } = svc
  await post(app, '/api/collect', { event_id: 'e1', event: 'view', user_id: 'ann' })
  await post(app, '/noti/pub', { eventType: 'DEPLOY', userId: 'ann' })

  const tail = await readSse(t, `${url}/api/tail?history=10`)
  t.equal(tail.status, 200)
  t.match(tail.headers.get('content-type'), /text\/event-stream/)
  const first = await tail.next(e => e.event === 'collect.event.received')
  t.match(JSON.parse(first.data), { stream: 'COLLECT', seq: 1, subject: 'collect.user.ann.view', type: 'collect.event.received', data: { event_id: 'e1', user_id: 'ann' }, truncated: false })
  await tail.next(e => e.event === 'job.requested')
  const opened = await tail.next(e => e.event === 'position')
  t.match(opened.id, /(^|,)COLLECT:1(,|$)/)
  t.match(opened.id, /(^|,)JOBS:1(,|$)/)

  const w = await post(app, '/api/collect', { event_id: 'e2', event: 'buy', user_id: 'bob', parameters: { price: 3 } })
  const live = await tail.next(e => e.event === 'collect.event.received')
  t.match(JSON.parse(live.data), { seq: seqOf(w), data: { event_id: 'e2', parameters: { price: 3 } } })
  t.match(live.id, /(^|,)COLLECT:2(,|$)/)

  // a type filter keeps job events only; a resume from the id seen replays what came since
  const jobsOnly = await readSse(t, `${url}/api/tail?types=job.*`, { 'last-event-id': live.id! })
  await post(app, '/api/collect', { event_id: 'e3', event: 'view', user_id: 'cy' })
  const pub = await post(app, '/noti/pub', { eventType: 'TEST', userId: 'cy' })
  const job = await jobsOnly.next(e => e.event === 'job.requested')
  t.match(JSON.parse(job.data), { stream: 'JOBS', data: { eventId: pub.json().eventId, userId: 'cy' } })
  t.notOk(jobsOnly.events.some(e => e.event.startsWith('collect.')), 'no collect events through a job.* filter')

  tail.close()
  const resumed = await readSse(t, `${url}/api/tail?streams=COLLECT`, { 'last-event-id': live.id! })
  const missed = await resumed.next(e => e.event === 'collect.event.received')
  t.match(JSON.parse(missed.data), { seq: 3, data: { event_id: 'e3' } }, 'the event missed while away, once')
  t.equal(missed.id, 'COLLECT:3')

  const bad = await app.inject({ url: '/api/tail', headers: { 'last-event-id': 'not an id' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { errors: [{ field: 'Last-Event-ID' }] })
  const unknown = await app.inject({ url: '/api/tail?streams=NOPE' })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { errors: [{ field: 'streams' }] })
})

t.test('jwt mode: a user sees their own data and events; the operator views are for admins', async t => {
  const svc = await startService(t, { listen: 0, env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const { app, url } = svc
  const ann = bearer({ sub: 'ann' })
  const root = bearer({ sub: 'root', role: 'admin' })
  t.equal((await app.inject({ url: '/api/whoami' })).statusCode, 401)
  const me = (await app.inject({ url: '/api/whoami', headers: ann })).json()
  t.match(me, { authMode: 'jwt', userId: 'ann', admin: false })
  t.notOk(me.streams.includes('DLQ'), 'no DLQ for a user')
  t.notOk(me.streams.includes('LEASES'))
  t.ok((await app.inject({ url: '/api/whoami', headers: root })).json().streams.includes('DLQ'))

  for (const path of ['/api/admin/overview', '/api/admin/streams', '/api/admin/consumers', '/api/admin/dlq', '/api/admin/meetings', '/api/admin/relay/requests', '/api/admin/relay/deliveries']) {
    t.equal((await app.inject({ url: path, headers: ann })).statusCode, 403, `${path} is for admins`)
    t.equal((await app.inject({ url: path, headers: root })).statusCode, 200, `${path} for an admin`)
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/admin/dlq/1/replay', headers: ann })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/tail?streams=DLQ', headers: ann })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/tail?user=bob', headers: ann })).statusCode, 403)

  await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'bob' }, bearer({ sub: 'bob' }))
  await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ann' }, ann)
  const mine = await app.inject({ url: '/api/jobs?min_seq=2', headers: ann })
  t.same(mine.json().items.map((j: { userId: string }) => j.userId), ['ann'])
  t.equal((await app.inject({ url: '/api/jobs?userId=bob', headers: ann })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/jobs', headers: root })).json().items.length, 2)

  // the tail: ann's own events only, over fetch with the token in a header (never in the URL)
  const tail = await readSse(t, `${url}/api/tail?history=10`, ann)
  t.equal(tail.status, 200)
  const own = await tail.next(e => e.event === 'job.requested')
  t.match(JSON.parse(own.data), { data: { userId: 'ann' } })
  await tail.next(e => e.event === 'position')
  await post(app, '/api/collect', { event_id: 'b1', event: 'view', user_id: 'bob' }, bearer({ sub: 'bob' }))
  await post(app, '/api/collect', { event_id: 'a1', event: 'view', user_id: 'ann' }, ann)
  const next = await tail.next(e => e.event === 'collect.event.received')
  t.match(JSON.parse(next.data), { data: { user_id: 'ann', event_id: 'a1' } }, 'bob\'s event never reached ann')
  t.notOk(tail.events.some(e => e.data.includes('"bob"')))
})

t.test('dead letters: listed newest first, replayed through the API, 404 for a sequence that is none', async t => {
  const { app, runtime } = await startService(t, { env: { WORKER_BACKOFF: '50ms', WORKER_MAX_DELIVER: '2' } })
  const eventId = eventIdFor('ghost', 'k')
  // a completion before its request, stored by another producer than the intake (which answers 404)
  await appendEvent(runtime.js, {
    def: Events.jobCompleted,
    data: { eventId, eventStatus: 'N', eventDesc: 'broke', origin: 'intake' },
    subject: Subjects.jobCompleted(eventId),
    source: '/test',
    about: eventId,
    time: new Date()
  })
  const list = await until('a dead letter', async () => {
    const answer = (await app.inject({ url: '/api/admin/dlq' })).json()
    return answer.items.length > 0 ? answer : undefined
  })
  t.match(list, { letters: 1, replayed: 0 })
  const [letter] = list.items
  t.match(letter, {
    stream: 'JOBS',
    consumer: 'completion-worker',
    subject: `jobs.completed.${eventId}`,
    type: 'job.completed',
    deliveries: 2,
    error: `no job.requested for eventId ${eventId}`,
    replayedAs: null
  })
  t.match(JSON.parse(letter.preview), { eventId, eventStatus: 'N', eventDesc: 'broke' })
  t.match((await app.inject({ url: '/api/admin/overview' })).json().deadLetters, { letters: 1, replayed: 0 })

  await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ghost' }, { 'idempotency-key': 'k' })
  const replay = await app.inject({ method: 'POST', url: `/api/admin/dlq/${letter.dlqSeq as number}/replay` })
  t.equal(replay.statusCode, 200)
  t.match(replay.json(), { dlqSeq: letter.dlqSeq, subject: `jobs.completed.${eventId}`, stream: 'JOBS', seq: Number })
  let job
  do {
    job = (await app.inject({ url: `/noti/jobs/${eventId}` })).json()
  } while (job.status === 'PENDING' && await new Promise(resolve => setTimeout(resolve, 50, true)))
  t.match(job, { status: 'N', eventDesc: 'broke' })
  t.match((await app.inject({ url: '/api/admin/dlq' })).json(), { letters: 1, replayed: 1, items: [{ replayedAs: replay.json().seq }] })

  t.equal((await app.inject({ method: 'POST', url: '/api/admin/dlq/999/replay' })).statusCode, 404)
  const replayEvent = (await app.inject({ method: 'POST', url: `/api/admin/dlq/${(letter.dlqSeq as number) + 1}/replay` }))
  t.equal(replayEvent.statusCode, 404, 'a replay record is not a dead letter')
})

t.test('meetings of everyone, with delivery counts', async t => {
  const { app } = await startService(t)
  const m = await post(app, '/api/meetings', {
    title: 'Sync',
    startsAt: '2030-05-01T10:00:00Z',
    durationMinutes: 30,
    location: 'Room 1',
    participants: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }],
    organizer: { userId: 'olga', email: 'olga@example.com' }
  })
  t.equal(m.statusCode, 201)
  let items
  do {
    items = (await app.inject({ url: '/api/admin/meetings' })).json().items
  } while ((items.length === 0 || items[0].deliveries.sent < 2) && await new Promise(resolve => setTimeout(resolve, 50, true)))
  t.match(items, [{ id: m.json().id, title: 'Sync', status: 'scheduled', participants: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }], deliveries: { sent: 2, pending: 0, failed: 0 } }])
})

t.test('relay requests and trigger deliveries, with their attempts', async t => {
  let calls = 0
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = ++calls === 1 ? 503 : 200
    res.end(JSON.stringify({ ok: calls }))
  })
  const { app } = await startService(t, { env: { RELAY_ALLOW: '127.0.0.0/8', TIMER_TICK: '50ms' } })
  const sync = await post(app, '/sync', { targetURL: target.origin, targetAPI: '/now', body: { a: 1 } })
  t.equal(sync.statusCode, 503, 'the first call: the target\'s own 503')
  const async = await post(app, '/async', { targetURL: target.origin, targetAPI: '/later', body: { b: 2 }, delivery: { retry: 3, backoffDelay: 'PT0.1S' } })
  t.equal(async.statusCode, 202)
  const { requestId } = async.json()
  let items
  do {
    items = (await app.inject({ url: '/api/admin/relay/requests' })).json().items
  } while (items.find((r: { requestId: string, status: string }) => r.requestId === requestId)?.status !== 'delivered' && await new Promise(resolve => setTimeout(resolve, 50, true)))
  t.match(items, [
    { requestId, kind: 'async', status: 'delivered', method: 'POST', url: `${target.origin}/later`, attempts: 1, responseStatus: 200, callback: null },
    { requestId: sync.headers['jetway-request-id'], kind: 'sync', status: 'answered', method: 'POST', url: `${target.origin}/now`, responseStatus: 503 }
  ], 'newest first')
  t.same((await app.inject({ url: '/api/admin/relay/requests?kind=sync' })).json().items.map((r: { kind: string }) => r.kind), ['sync'])

  // a trigger whose subscriber fails once: its delivery is retried, and shown with its attempts
  let deliveries = 0
  const subscriber = await httpTarget(t, (_req, res) => {
    res.statusCode = ++deliveries === 1 ? 500 : 200
    res.end()
  })
  t.equal((await post(app, '/api/triggers', { name: 'orders', subscriber: { url: subscriber.origin }, delivery: { retry: 3, backoffDelay: 'PT0.1S' } })).statusCode, 201)
  const seq = (await app.inject({
    method: 'POST',
    url: '/event',
    headers: { 'content-type': 'application/cloudevents+json' },
    payload: JSON.stringify({ specversion: '1.0', id: 'o1', source: '/tests', type: 'com.example.order', subject: 'o1', data: { n: 1 } })
  })).json().events[0].seq
  let view
  do {
    view = (await app.inject({ url: '/api/admin/relay/deliveries' })).json()
  } while (view.items[0]?.status !== 'delivered' && await new Promise(resolve => setTimeout(resolve, 50, true)))
  t.match(view.triggers, [{ name: 'orders', subscriber: subscriber.origin, consumer: { stream: 'RELAY', name: 'orders', pending: 0 } }])
  t.match(view.items, [{ trigger: 'orders', eventSeq: seq, eventId: 'o1', status: 'delivered', attempts: 2, lastStatus: 200 }])
})
