import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { idForKey, IDEMPOTENCY_KEY_MAX } from '../../src/api/http/idempotency.js'

// The Idempotency-Key rule (src/api/http/idempotency.ts) on every route that takes the header:
// a key is taken whole, so two long keys that differ only after character 200 are two
// requests (the broker once cut keys to 200 characters and dropped the second as a duplicate);
// a retry with the same key is one; a key over the limit, empty or not printable ASCII is a 400
// naming the header, with nothing stored; the same key for another user names another thing.

interface Route {
  url: string
  /** a body for the request, for user `who` */
  body: (who: string) => unknown
  /** the id the answer names */
  idOf: (body: any) => string
  /** its shape with a key, and without one when that differs */
  shape: RegExp
  unkeyed?: RegExp
  /** where its event is stored */
  stream: string
  filter: string
  /** count what the route stores as messages, or as subjects (a relay request's subject holds its attempts too) */
  per?: 'subject'
  /** the key is scoped by a user the body names (off mode: the caller has no identity) */
  scoped: boolean
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const HEX = /^[0-9a-f]{32}$/
const inHours = (h: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + h * 3600_000).toISOString()

function routes (target: string): Record<string, Route> {
  return {
    'POST /noti/pub': { url: '/noti/pub', body: who => ({ eventType: 'TEST', userId: who }), idOf: b => b.eventId, shape: UUID, stream: 'JOBS', filter: 'jobs.requested.>', scoped: true },
    'POST /api/tasks': { url: '/api/tasks', body: who => ({ type: 'deploy', input: {}, owner: who }), idOf: b => b.taskId, shape: HEX, stream: 'TASKS', filter: 'tasks.*', scoped: true },
    'POST /api/meetings': {
      url: '/api/meetings',
      body: who => ({ title: 'Sync', startsAt: inHours(24), durationMinutes: 30, location: 'Room 1', participants: [{ email: 'ann@example.com' }], organizer: { userId: who, email: `${who}@example.com` } }),
      idOf: b => b.id,
      shape: HEX,
      stream: 'MEETINGS',
      filter: 'meetings.>',
      scoped: true
    },
    'POST /async': { url: '/async', body: () => ({ targetURL: target, targetAPI: '/later' }), idOf: b => b.requestId, shape: /^[\w-]{32}$/, unkeyed: UUID, stream: 'RELAY', filter: 'relay.requests.>', per: 'subject', scoped: false },
    // the seed's plain JSON: the key is the CloudEvent's id
    'POST /event': { url: '/event', body: () => ({ targetURL: target, targetAPI: '/event' }), idOf: b => b.events[0].id, shape: /^[\x20-\x7E]+$/, stream: 'RELAY', filter: 'relay.events.>', scoped: false }
  }
}

const long = (tail: string): string => `${'k'.repeat(200)}${tail.repeat(IDEMPOTENCY_KEY_MAX - 200)}`

async function send (app: FastifyInstance, route: Route, key: string | undefined, who = 'alice') {
  return await post(app, route.url, route.body(who), key === undefined ? {} : { 'idempotency-key': key })
}

t.test('Idempotency-Key, the same rule on every route that takes it', async t => {
  const target = await httpTarget(t)
  const svc: Service = await startService(t, { env: { RELAY_ALLOW: '127.0.0.0/8' } })
  const { app, runtime } = svc
  for (const [name, route] of Object.entries(routes(target.origin))) {
    await t.test(name, async t => {
      const stored = async () => route.per === 'subject'
        ? Object.keys((await runtime.jsm.streams.info(route.stream, { subjects_filter: route.filter })).state.subjects ?? {}).length
        : await countOn(runtime, route.stream, route.filter)
      const before = await stored()

      // two keys of 255 characters, the same for their first 200: two requests
      const a = await send(app, route, long('a'))
      const b = await send(app, route, long('b'))
      t.ok(a.statusCode < 300 && b.statusCode < 300, `accepted: ${a.statusCode} ${b.body}`)
      t.not(route.idOf(a.json()), route.idOf(b.json()), 'two ids')
      t.equal(await stored(), before + 2, 'two events')
      t.match(route.idOf(a.json()), route.shape, 'with a key: the shape it always had')
      t.match(route.idOf((await send(app, route, undefined)).json()), route.unkeyed ?? route.shape, 'without a key: the shape it always had')

      // a retry of the first: the same id, nothing stored
      const retry = await send(app, route, long('a'))
      t.equal(route.idOf(retry.json()), route.idOf(a.json()), 'a retry names the same')
      t.equal(await stored(), before + 3, 'and stores nothing')
      if (route.url === '/event') t.match(retry.json(), { events: [{ duplicate: true }] })
      else t.equal(retry.headers['jetway-duplicate'], 'true')

      if (route.scoped) {
        const other = await send(app, route, long('a'), 'bob')
        t.not(route.idOf(other.json()), route.idOf(a.json()), 'the same key for another user names another')
      }

      const after = await stored()
      for (const bad of ['x'.repeat(IDEMPOTENCY_KEY_MAX + 1), '', 'caf\u00e9', 'tab\there']) {
        const refused = await send(app, route, bad)
        t.equal(refused.statusCode, 400, `${JSON.stringify(bad.slice(0, 12))}: 400`)
        t.equal(refused.headers['content-type'], 'application/problem+json')
        t.match(refused.json(), { code: 'JETWAY_VALIDATION', errors: [{ field: 'Idempotency-Key', message: `must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters` }] })
      }
      t.equal(await stored(), after, 'nothing stored from a refused key')
    })
  }
})

t.test('idForKey: the whole key, scoped by route and user', async t => {
  const key = long('a')
  t.not(idForKey('jobs', 'u', key, 'hex'), idForKey('jobs', 'u', long('b'), 'hex'), 'keys differing after 200 characters')
  t.not(idForKey('jobs', 'u', key, 'hex'), idForKey('tasks', 'u', key, 'hex'), 'another route')
  t.not(idForKey('jobs', 'u', key, 'hex'), idForKey('jobs', 'v', key, 'hex'), 'another user')
  t.not(idForKey('jobs', 'a\nb', 'c', 'hex'), idForKey('jobs', 'a', 'b\nc', 'hex'), 'parts are unambiguous')
  t.equal(idForKey('jobs', 'u', key, 'uuid'), idForKey('jobs', 'u', key, 'uuid'), 'stable')
  t.match(idForKey('jobs', 'u', key, 'uuid'), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a version 8 UUID')
  t.match(idForKey('jobs', 'u', key, 'hex'), HEX)
  t.match(idForKey('jobs', 'u', key, 'base64url'), /^[\w-]{32}$/)
})
