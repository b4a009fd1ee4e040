import t from 'tap'
import { request as httpRequest } from 'node:http'
import { createSigner } from 'fast-jwt'
import type { RouteOptions } from 'fastify'
import { startService } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { approvalToken } from '../../src/lib/task-tokens.js'

// The authorization matrix, AUTH_MODE=jwt: every route × every kind of caller, with the status
// each cell must answer written out in MATRIX below. A route the app registers without a row
// fails the test, so a new route has to say who may call it. User A owns the resources the
// requests name (created by A first); B is another user.
//
// Callers: no token; A's token expired; A's claims signed with another secret; A's claims with
// `alg: none` and no signature; A; B; an admin (`roles: ["admin"]`); a machine with
// `role: "service"` (the completion intake's caller; it has a `sub`, so it is also a user).
// HEAD twins answer as their GET and are left out; SSE routes are called over real HTTP and
// only their status is read.

const SECRET = 'an-authz-matrix-secret-of-length'
const TASK_SECRET = 'a-task-token-secret-of-32-characters!!'
const WRITE_KEY = 'wk_authz_matrix_key'
const WHO = ['none', 'expired', 'badSig', 'algNone', 'A', 'B', 'admin', 'service'] as const
type Who = typeof WHO[number]
type Row = [none: number, expired: number, badSig: number, algNone: number, A: number, B: number, admin: number, service: number]

const ALL = (status: number): Row => [status, status, status, status, status, status, status, status]
/** any valid token naming a user (A, B, admin, service): `ok`; no valid token: 401 */
const USERS = (ok: number): Row => [401, 401, 401, 401, ok, ok, ok, ok]
/** A's own data: A and admin `ok`, B and the service user `other` */
const OWNER = (ok: number, other: number): Row => [401, 401, 401, 401, ok, other, ok, other]
/** admin only: other users 403 */
const ADMIN = (ok: number): Row => [401, 401, 401, 401, 403, 403, ok, 403]
/** the completion intake: a token with role service or admin */
const INTAKE = (ok: number): Row => [401, 401, 401, 401, 403, 403, ok, ok]

// none, expired, badSig, algNone, A, B, admin, service
const MATRIX: Record<string, Row> = {
  // open: documentation, health, the console's files
  'GET /docs/': ALL(200),
  'GET /docs/static/index.html': ALL(302),
  'GET /docs/static/swagger-initializer.js': ALL(200),
  'GET /docs/json': ALL(200),
  'GET /docs/yaml': ALL(200),
  'GET /docs/static/*': ALL(200),
  'GET /openapi.json': ALL(200),
  'GET /healthz': ALL(200),
  'GET /readyz': ALL(200),
  'GET /metrics': ALL(200),
  'GET /console': ALL(302),
  'GET /console/*': ALL(200),
  'GET /console/vendor/preact/*': ALL(200),
  'GET /console/vendor/htm/*': ALL(200),
  // the collector: a user writes and reads only their own events (a batch rejects B's events one by one, 200)
  'POST /api/collect': OWNER(200, 403),
  'POST /api/event': OWNER(200, 403),
  'POST /api/collect/batch': USERS(200),
  'POST /api/search': OWNER(200, 403),
  'GET /api/event': OWNER(200, 403),
  'GET /api/event/:user_id': OWNER(200, 403),
  // the analytics SDKs' routes: the write key is the credential (any token, or none, beside it)
  'POST /v1/track': ALL(200),
  'POST /v1/identify': ALL(200),
  'POST /v1/page': ALL(200),
  'POST /v1/screen': ALL(200),
  'POST /v1/group': ALL(200),
  'POST /v1/alias': ALL(200),
  'POST /v1/batch': ALL(200),
  'POST /v1/import': ALL(200),
  // jobs: A's job; another user's is 403 (README: "a user subscribes only to their own jobs")
  'POST /noti/pub': OWNER(200, 403),
  'GET /noti/jobs/:eventId': OWNER(200, 403),
  'GET /noti/sub/:eventId': OWNER(200, 403),
  'POST /noti/sub/:eventId': OWNER(200, 403),
  'GET /noti/users/:userId/sub': OWNER(200, 403),
  // the completion intake sets anyone's job outcome: service or admin tokens only
  'OPTIONS /noti/events': ALL(200),
  'POST /noti/events': INTAKE(200),
  'POST /noti/complete/:eventId': INTAKE(200),
  // meetings: another user's is 404 (not even its existence); the outbox is the admin's
  'POST /api/meetings': [401, 401, 401, 401, 201, 201, 201, 400], // the service token names no email for the invitations
  'GET /api/meetings/:id': OWNER(200, 404),
  'GET /api/meetings': USERS(200),
  'PATCH /api/meetings/:id': OWNER(200, 404),
  'POST /api/meetings/:id/participants': OWNER(200, 404),
  'DELETE /api/meetings/:id/participants/:email': OWNER(200, 404),
  'POST /api/meetings/:id/cancel': OWNER(200, 404),
  'GET /api/meetings/:id/notifications': OWNER(200, 404),
  'GET /api/outbox': ADMIN(200),
  // tasks: another user's is 404; the task token (or the approval link) is the credential of completions
  'POST /api/tasks': USERS(201),
  'GET /api/tasks/:id': OWNER(200, 404),
  'GET /api/tasks': USERS(200),
  'GET /api/tasks/:id/notifications': OWNER(200, 404),
  'GET /api/tasks/:id/events': OWNER(200, 404),
  'GET /api/tasks/sub': USERS(200),
  'POST /api/tasks/success': ALL(200),
  'POST /api/tasks/failure': ALL(200),
  'POST /api/tasks/heartbeat': ALL(200),
  'POST /sfn': ALL(200),
  'POST /sfn/': ALL(200),
  'GET /tasks/approval/:token': ALL(200),
  'POST /tasks/approval/:token': ALL(403), // no form token: the form again, nothing recorded
  'POST /api/schedules': USERS(201),
  'GET /api/schedules': USERS(200),
  'GET /api/schedules/:id': OWNER(200, 404),
  'DELETE /api/schedules/:id': OWNER(200, 404),
  // the relay: any user calls out; an /async request is its caller's (404 to others)
  'GET /sync': USERS(200),
  'POST /sync': USERS(200),
  'POST /async': USERS(202),
  'GET /async/:requestId': OWNER(200, 404),
  'POST /event': USERS(202),
  // triggers are the operator's: created, deleted and read by admins (a subscriber URL can hold a secret)
  'POST /api/triggers': ADMIN(201),
  'GET /api/triggers': ADMIN(200),
  'GET /api/triggers/:name': ADMIN(200),
  'DELETE /api/triggers/:name': ADMIN(204),
  // callbacks: received from anyone; read by the owner of the /async request they answer (admin: all)
  'POST /event/callback': ALL(200),
  'GET /event/callback': ALL(200),
  'GET /event/callback/list': OWNER(200, 404),
  'GET /event/callback/sub': OWNER(200, 404),
  // the console and the operator views
  'GET /api/whoami': USERS(200),
  'GET /api/jobs': USERS(200),
  'GET /api/tail': USERS(200),
  'GET /api/admin/overview': ADMIN(200),
  'GET /api/admin/activity': ADMIN(200),
  'GET /api/admin/streams': ADMIN(200),
  'GET /api/admin/consumers': ADMIN(200),
  'GET /api/admin/dlq': ADMIN(200),
  'POST /api/admin/dlq/:seq/replay': ADMIN(404), // past the admin check: there is no dead letter 999999
  'GET /api/admin/relay/requests': ADMIN(200),
  'GET /api/admin/relay/deliveries': ADMIN(200),
  'GET /api/admin/meetings': ADMIN(200),
  // erasure of a user and suppressions: the operator's (past the admin check: no such erasure, no such suppression)
  'DELETE /api/users/:userId': ADMIN(202),
  'GET /api/erasures/:erasureId': ADMIN(404),
  'DELETE /api/suppressions/:userId': ADMIN(404)
}

interface Req { method: string, url: string, body?: unknown, headers?: Record<string, string> }

const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url')
const later = () => Math.floor(Date.now() / 1000) + 3600
const sign = createSigner({ key: SECRET, algorithm: 'HS256' })
const A = { sub: 'alice', email: 'alice@example.com' }
const TOKENS: Record<Who, string | undefined> = {
  none: undefined,
  expired: sign({ ...A, exp: Math.floor(Date.now() / 1000) - 60 }),
  badSig: createSigner({ key: 'another-secret-entirely-not-ours', algorithm: 'HS256' })({ ...A, exp: later() }),
  algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...A, exp: later() })}.`,
  A: sign({ ...A, exp: later() }),
  B: sign({ sub: 'bob', email: 'bob@example.com', exp: later() }),
  admin: sign({ sub: 'ops', email: 'ops@example.com', roles: ['admin'], exp: later() }),
  service: sign({ sub: 'job-runner', role: 'service', exp: later() })
}
const auth = (who: Who): Record<string, string> => TOKENS[who] === undefined ? {} : { authorization: `Bearer ${TOKENS[who]}` }

t.test('every route × every caller answers the status MATRIX says', async t => {
  const routes: RouteOptions[] = []
  const target = await httpTarget(t)
  const svc = await startService(t, {
    env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, TASK_TOKEN_SECRET: TASK_SECRET, RELAY_ALLOW: '127.0.0.1', OUTBOUND_TIMEOUT: '2s', COLLECT_WRITE_KEYS: WRITE_KEY },
    onRoute: route => { routes.push(route) },
    listen: 0
  })
  const { app } = svc
  const as = async (who: Who, req: Req) => await app.inject({
    method: req.method as 'GET',
    url: req.url,
    headers: { ...(req.body === undefined ? {} : { 'content-type': 'application/json' }), ...auth(who), ...req.headers },
    ...(req.body === undefined ? {} : { payload: typeof req.body === 'string' ? req.body : JSON.stringify(req.body) })
  })
  const created = async (who: Who, req: Req): Promise<Record<string, string>> => {
    const r = await as(who, req)
    if (r.statusCode >= 300) throw new Error(`${req.method} ${req.url} as ${who}: ${r.statusCode} ${r.body}`)
    return r.json()
  }

  // A's resources (and an admin's trigger); `fresh` ones are made again for every cell that changes them
  const fresh = {
    meeting: async () => (await created('A', { method: 'POST', url: '/api/meetings', body: { title: 'Sync', startsAt: '2031-01-01T10:00:00Z', durationMinutes: 30, location: 'Room 1', participants: [{ email: 'carol@example.com' }, { email: 'dave@example.com' }] } })).id!,
    task: async () => await created('A', { method: 'POST', url: '/api/tasks', body: { type: 'approve', input: {}, approvers: ['carol@example.com'], heartbeatSeconds: 3600 } }),
    schedule: async () => (await created('A', { method: 'POST', url: '/api/schedules', body: { name: 'nightly', cron: '0 0 1 1 *', task: { type: 't' } } })).scheduleId!,
    trigger: async (name: string) => (await created('admin', { method: 'POST', url: '/api/triggers', body: { name, filter: { attributes: { type: 'com.example.none' } }, subscriber: { url: `${target.origin}/t` } } })).name!
  }
  const job = (await created('A', { method: 'POST', url: '/noti/pub', body: { eventType: 'TEST', userId: 'alice' } })).eventId!
  const meeting = await fresh.meeting()
  const task = await fresh.task()
  const schedule = await fresh.schedule()
  const requestId = (await created('A', { method: 'POST', url: '/async', body: { targetURL: target.origin, targetAPI: '/a' } })).requestId!
  const trigger = await fresh.trigger('matrix')
  const approval = approvalToken(TASK_SECRET, task.taskId!, 0, 'carol@example.com')
  let n = 0
  const relayBody = { targetURL: target.origin, targetAPI: '/x', headers: { h: 'v' } }

  /** The request of each route, as A's resources make it. */
  const REQUESTS: Record<string, () => Promise<Req> | Req> = {
    'GET /docs/': () => ({ method: 'GET', url: '/docs/' }),
    'GET /docs/static/index.html': () => ({ method: 'GET', url: '/docs/static/index.html' }),
    'GET /docs/static/swagger-initializer.js': () => ({ method: 'GET', url: '/docs/static/swagger-initializer.js' }),
    'GET /docs/json': () => ({ method: 'GET', url: '/docs/json' }),
    'GET /docs/yaml': () => ({ method: 'GET', url: '/docs/yaml' }),
    'GET /docs/static/*': () => ({ method: 'GET', url: '/docs/static/swagger-ui.css' }),
    'GET /openapi.json': () => ({ method: 'GET', url: '/openapi.json' }),
    'GET /healthz': () => ({ method: 'GET', url: '/healthz' }),
    'GET /readyz': () => ({ method: 'GET', url: '/readyz' }),
    'GET /metrics': () => ({ method: 'GET', url: '/metrics' }),
    'GET /console': () => ({ method: 'GET', url: '/console' }),
    'GET /console/*': () => ({ method: 'GET', url: '/console/index.html' }),
    'GET /console/vendor/preact/*': () => ({ method: 'GET', url: '/console/vendor/preact/dist/preact.mjs' }),
    'GET /console/vendor/htm/*': () => ({ method: 'GET', url: '/console/vendor/htm/dist/htm.module.js' }),
    'POST /api/collect': () => ({ method: 'POST', url: '/api/collect', body: { event_id: `m${n++}`, event: 'view', user_id: 'alice' } }),
    'POST /api/event': () => ({ method: 'POST', url: '/api/event', body: { event_id: `m${n++}`, event: 'view', user_id: 'alice' } }),
    'POST /api/collect/batch': () => ({ method: 'POST', url: '/api/collect/batch', body: { events: [{ event_id: `m${n++}`, event: 'view', user_id: 'alice' }] } }),
    'POST /api/search': () => ({ method: 'POST', url: '/api/search', body: { user_id: 'alice' } }),
    'GET /api/event': () => ({ method: 'GET', url: '/api/event?user_id=alice' }),
    'GET /api/event/:user_id': () => ({ method: 'GET', url: '/api/event/alice' }),
    'POST /v1/track': () => ({ method: 'POST', url: '/v1/track', body: { userId: 'alice', event: 'view', messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/identify': () => ({ method: 'POST', url: '/v1/identify', body: { userId: 'alice', traits: {}, messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/page': () => ({ method: 'POST', url: '/v1/page', body: { userId: 'alice', name: 'Home', messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/screen': () => ({ method: 'POST', url: '/v1/screen', body: { anonymousId: 'a-1', messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/group': () => ({ method: 'POST', url: '/v1/group', body: { userId: 'alice', groupId: 'g', messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/alias': () => ({ method: 'POST', url: '/v1/alias', body: { userId: 'alice', previousId: 'a-1', messageId: `m${n++}`, writeKey: WRITE_KEY } }),
    'POST /v1/batch': () => ({ method: 'POST', url: '/v1/batch', body: { batch: [{ type: 'track', userId: 'bob', event: 'view', messageId: `m${n++}` }], writeKey: WRITE_KEY } }),
    'POST /v1/import': () => ({ method: 'POST', url: '/v1/import', body: { batch: [{ type: 'track', userId: 'bob', event: 'view', messageId: `m${n++}` }], writeKey: WRITE_KEY } }),
    'POST /noti/pub': () => ({ method: 'POST', url: '/noti/pub', body: { eventType: 'TEST', userId: 'alice' } }),
    'GET /noti/jobs/:eventId': () => ({ method: 'GET', url: `/noti/jobs/${job}` }),
    'GET /noti/sub/:eventId': () => ({ method: 'GET', url: `/noti/sub/${job}` }),
    'POST /noti/sub/:eventId': () => ({ method: 'POST', url: `/noti/sub/${job}` }),
    'GET /noti/users/:userId/sub': () => ({ method: 'GET', url: '/noti/users/alice/sub' }),
    'OPTIONS /noti/events': () => ({ method: 'OPTIONS', url: '/noti/events', headers: { 'webhook-request-origin': 'runner.example' } }),
    'POST /noti/events': () => ({ method: 'POST', url: '/noti/events', body: [{ id: job, eventType: 'VRD.ML.CompleteEvent', data: { desc: 'done' } }] }),
    'POST /noti/complete/:eventId': () => ({ method: 'POST', url: `/noti/complete/${job}`, body: { eventStatus: 'Y' } }),
    'POST /api/meetings': () => ({ method: 'POST', url: '/api/meetings', body: { title: 'Mine', startsAt: '2031-01-02T10:00:00Z', durationMinutes: 30, location: 'Room 2', participants: [{ email: 'dave@example.com' }] } }),
    'GET /api/meetings/:id': () => ({ method: 'GET', url: `/api/meetings/${meeting}` }),
    'GET /api/meetings': () => ({ method: 'GET', url: '/api/meetings' }),
    'PATCH /api/meetings/:id': () => ({ method: 'PATCH', url: `/api/meetings/${meeting}`, body: { title: `Sync ${n++}` } }),
    'POST /api/meetings/:id/participants': () => ({ method: 'POST', url: `/api/meetings/${meeting}/participants`, body: { participants: [{ email: `p${n++}@example.com` }] } }),
    'DELETE /api/meetings/:id/participants/:email': async () => ({ method: 'DELETE', url: `/api/meetings/${await fresh.meeting()}/participants/carol@example.com` }),
    'POST /api/meetings/:id/cancel': async () => ({ method: 'POST', url: `/api/meetings/${await fresh.meeting()}/cancel`, body: {} }),
    'GET /api/meetings/:id/notifications': () => ({ method: 'GET', url: `/api/meetings/${meeting}/notifications` }),
    'GET /api/outbox': () => ({ method: 'GET', url: '/api/outbox' }),
    'POST /api/tasks': () => ({ method: 'POST', url: '/api/tasks', body: { type: 'mine', input: {} } }),
    'GET /api/tasks/:id': () => ({ method: 'GET', url: `/api/tasks/${task.taskId!}` }),
    'GET /api/tasks': () => ({ method: 'GET', url: '/api/tasks' }),
    'GET /api/tasks/:id/notifications': () => ({ method: 'GET', url: `/api/tasks/${task.taskId!}/notifications` }),
    'GET /api/tasks/:id/events': () => ({ method: 'GET', url: `/api/tasks/${task.taskId!}/events` }),
    'GET /api/tasks/sub': () => ({ method: 'GET', url: '/api/tasks/sub' }),
    'POST /api/tasks/success': async () => ({ method: 'POST', url: '/api/tasks/success', body: { taskToken: (await fresh.task()).taskToken, output: { ok: true } } }),
    'POST /api/tasks/failure': async () => ({ method: 'POST', url: '/api/tasks/failure', body: { taskToken: (await fresh.task()).taskToken, error: 'E' } }),
    'POST /api/tasks/heartbeat': () => ({ method: 'POST', url: '/api/tasks/heartbeat', body: { taskToken: task.taskToken } }),
    'POST /sfn': () => ({ method: 'POST', url: '/sfn', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.SendTaskHeartbeat' }, body: { taskToken: task.taskToken } }),
    'POST /sfn/': () => ({ method: 'POST', url: '/sfn/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.SendTaskHeartbeat' }, body: { taskToken: task.taskToken } }),
    'GET /tasks/approval/:token': () => ({ method: 'GET', url: `/tasks/approval/${approval}` }),
    'POST /tasks/approval/:token': () => ({ method: 'POST', url: `/tasks/approval/${approval}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=approve' }),
    'POST /api/schedules': () => ({ method: 'POST', url: '/api/schedules', body: { name: 'mine', cron: '0 0 1 1 *', task: { type: 't' } } }),
    'GET /api/schedules': () => ({ method: 'GET', url: '/api/schedules' }),
    'GET /api/schedules/:id': () => ({ method: 'GET', url: `/api/schedules/${schedule}` }),
    'DELETE /api/schedules/:id': async () => ({ method: 'DELETE', url: `/api/schedules/${await fresh.schedule()}` }),
    'GET /sync': () => ({ method: 'GET', url: '/sync', body: relayBody }),
    'POST /sync': () => ({ method: 'POST', url: '/sync', body: relayBody }),
    'POST /async': () => ({ method: 'POST', url: '/async', body: relayBody }),
    'GET /async/:requestId': () => ({ method: 'GET', url: `/async/${requestId}` }),
    'POST /event': () => ({ method: 'POST', url: '/event', body: relayBody }),
    'POST /api/triggers': () => ({ method: 'POST', url: '/api/triggers', body: { name: `t${n++}`, filter: { attributes: { type: 'com.example.none' } }, subscriber: { url: `${target.origin}/t` } } }),
    'GET /api/triggers': () => ({ method: 'GET', url: '/api/triggers' }),
    'GET /api/triggers/:name': () => ({ method: 'GET', url: `/api/triggers/${trigger}` }),
    'DELETE /api/triggers/:name': async () => ({ method: 'DELETE', url: `/api/triggers/${await fresh.trigger(`d${n++}`)}` }),
    'POST /event/callback': () => ({ method: 'POST', url: '/event/callback', body: { requestId, result: 'ok' } }),
    'GET /event/callback': () => ({ method: 'GET', url: `/event/callback?requestId=${requestId}` }),
    'GET /event/callback/list': () => ({ method: 'GET', url: `/event/callback/list?requestId=${requestId}` }),
    'GET /event/callback/sub': () => ({ method: 'GET', url: `/event/callback/sub?requestId=${requestId}` }),
    'GET /api/whoami': () => ({ method: 'GET', url: '/api/whoami' }),
    'GET /api/jobs': () => ({ method: 'GET', url: '/api/jobs' }),
    'GET /api/tail': () => ({ method: 'GET', url: '/api/tail' }),
    'GET /api/admin/overview': () => ({ method: 'GET', url: '/api/admin/overview' }),
    'GET /api/admin/activity': () => ({ method: 'GET', url: '/api/admin/activity' }),
    'GET /api/admin/streams': () => ({ method: 'GET', url: '/api/admin/streams' }),
    'GET /api/admin/consumers': () => ({ method: 'GET', url: '/api/admin/consumers' }),
    'GET /api/admin/dlq': () => ({ method: 'GET', url: '/api/admin/dlq' }),
    'POST /api/admin/dlq/:seq/replay': () => ({ method: 'POST', url: '/api/admin/dlq/999999/replay' }),
    'GET /api/admin/relay/requests': () => ({ method: 'GET', url: '/api/admin/relay/requests' }),
    'GET /api/admin/relay/deliveries': () => ({ method: 'GET', url: '/api/admin/relay/deliveries' }),
    'GET /api/admin/meetings': () => ({ method: 'GET', url: '/api/admin/meetings' }),
    // not A: an erasure of A would take A's records from the rows after it
    'DELETE /api/users/:userId': () => ({ method: 'DELETE', url: `/api/users/zed-${n++}` }),
    'GET /api/erasures/:erasureId': () => ({ method: 'GET', url: `/api/erasures/${'0'.repeat(32)}` }),
    'DELETE /api/suppressions/:userId': () => ({ method: 'DELETE', url: '/api/suppressions/nobody' })
  }

  const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> }>()
  const isSse = (method: string, url: string): boolean => doc.paths[url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[method.toLowerCase()]?.responses['200']?.content?.['text/event-stream'] !== undefined

  const registered = [...new Set(routes.flatMap(r => (Array.isArray(r.method) ? r.method : [r.method]).filter(m => m !== 'HEAD').map(m => `${m} ${r.url}`)))]
  t.same(registered.filter(k => MATRIX[k] === undefined), [], 'every route has a row in MATRIX')
  t.same(registered.filter(k => REQUESTS[k] === undefined), [], 'every route has a request')
  t.same(Object.keys(MATRIX).filter(k => !registered.includes(k)), [], 'no row for a route that is gone')

  const wrong: string[] = []
  for (const key of registered) {
    const row = MATRIX[key]
    const make = REQUESTS[key]
    if (row === undefined || make === undefined) continue
    const [method, url] = key.split(' ') as [string, string]
    for (const [i, who] of WHO.entries()) {
      const req = await make()
      const status = isSse(method, url) ? await sseStatus(svc.url, who, req) : await as(who, req)
      const actual = typeof status === 'number' ? status : status.statusCode
      if (actual !== row[i]) wrong.push(`${key} as ${who}: ${actual}, the matrix says ${row[i]!}${typeof status === 'number' ? '' : ` (${status.body.slice(0, 160)})`}`)
    }
  }
  t.same(wrong, [], 'every cell answers the status MATRIX says')
  t.ok(registered.length >= 70, `${registered.length} routes × ${WHO.length} callers`)
})

/** The status of an SSE route over real HTTP (a 200 streams on: hang up once it is known). */
async function sseStatus (base: string, who: Who, req: Req): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const r = httpRequest(`${base}${req.url}`, { method: req.method, headers: auth(who) }, res => {
      resolve(res.statusCode ?? 0)
      res.destroy()
    })
    r.on('error', reject)
    r.end()
  })
}
