import t from 'tap'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { post, startService } from '../fixtures/service.js'
import { readSse } from '../fixtures/sse-fetch.js'

// RATE_LIMIT per RATE_LIMIT_WINDOW (src/api/edge.ts): per verified user in jwt mode, else per
// client address; 429 problem+json with Retry-After; the probes are never limited.

const SECRET = 'a-test-secret-of-enough-length'
const sign = createSigner({ key: SECRET, expiresIn: 600_000 })
const bearer = (claims: object): Record<string, string> => ({ authorization: `Bearer ${sign(claims)}` })

async function statuses (app: FastifyInstance, n: number, opts: InjectOptions): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await app.inject(opts)).statusCode)
  return out
}

t.test('off by default outside production: no limit, no rate headers', async t => {
  const { app } = await startService(t)
  const answers = await statuses(app, 20, { url: '/api/event/alice' })
  t.same(new Set(answers), new Set([200]))
  t.equal((await app.inject({ url: '/api/event/alice' })).headers['x-ratelimit-limit'], undefined)
})

t.test('per address: the allowance, then 429 problem+json with Retry-After; another address has its own; the probes are exempt', async t => {
  const { app } = await startService(t, { env: { RATE_LIMIT: '3', RATE_LIMIT_WINDOW: '1h' } })
  const from = (remoteAddress: string): InjectOptions => ({ url: '/api/event/alice', remoteAddress })
  const first = await app.inject(from('10.0.0.1'))
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-ratelimit-limit'], '3')
  t.equal(first.headers['x-ratelimit-remaining'], '2')
  t.same(await statuses(app, 2, from('10.0.0.1')), [200, 200])

  const refused = await app.inject(from('10.0.0.1'))
  t.equal(refused.statusCode, 429)
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 3600, `Retry-After ${String(refused.headers['retry-after'])} is within the window`)
  t.match(refused.json(), {
    type: 'urn:jetway:problem:rate-limited',
    title: 'Too Many Requests',
    status: 429,
    code: 'JETWAY_RATE_LIMITED',
    detail: /more than 3 requests in an hour; retry in/,
    instance: '/api/event/alice'
  })
  t.equal(refused.headers['x-content-type-options'], 'nosniff', 'the 429 carries the security headers')

  t.equal((await app.inject(from('10.0.0.2'))).statusCode, 200, 'another address is not limited by the first')
  for (const url of ['/healthz', '/readyz', '/metrics']) {
    t.same(new Set(await statuses(app, 5, { url, remoteAddress: '10.0.0.1' })), new Set([200]), `${url} answers a limited address`)
  }
  // a request for no route spends the allowance too (no free probing of paths)
  t.equal((await app.inject({ url: '/nothing-here', remoteAddress: '10.0.0.1' })).statusCode, 429)
  t.equal((await app.inject({ url: '/nothing-here', remoteAddress: '10.0.0.3' })).statusCode, 404)
})

t.test('a route with its own failure field keeps it on a 429 (the collector: is_success false)', async t => {
  const { app } = await startService(t, { env: { RATE_LIMIT: '1' } })
  const body = { event_id: 'e1', event: 'view', user_id: 'alice', event_datetime: '2026-01-01T00:00:00Z', parameters: {} }
  t.equal((await post(app, '/api/collect', body)).statusCode, 200)
  const refused = await post(app, '/api/collect', { ...body, event_id: 'e2' })
  t.equal(refused.statusCode, 429)
  t.match(refused.json(), { code: 'JETWAY_RATE_LIMITED', is_success: false })
})

t.test('jwt mode: per user whatever the address; no token or a forged one spends only its address\'s allowance', async t => {
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, RATE_LIMIT: '3' } })
  const as = (user: string, remoteAddress: string): InjectOptions => ({ url: `/api/event/${user}`, remoteAddress, headers: bearer({ sub: user }) })
  // alice from three addresses: one allowance
  t.same([
    (await app.inject(as('alice', '10.0.1.1'))).statusCode,
    (await app.inject(as('alice', '10.0.1.2'))).statusCode,
    (await app.inject(as('alice', '10.0.1.3'))).statusCode
  ], [200, 200, 200])
  t.equal((await app.inject(as('alice', '10.0.1.4'))).statusCode, 429, 'alice is limited from a new address too')
  t.equal((await app.inject(as('bob', '10.0.1.1'))).statusCode, 200, 'bob, from an address alice used, is not')

  // tokens naming bob that are not bob's: forged (another key), or expired
  const forged = createSigner({ key: 'another-secret-of-enough-length', expiresIn: 600_000 })({ sub: 'bob' })
  const expired = createSigner({ key: SECRET })({ sub: 'bob', exp: Math.floor(Date.now() / 1000) - 60 })
  const attempts = [
    ...await statuses(app, 2, { url: '/api/event/bob', remoteAddress: '10.0.2.1', headers: { authorization: `Bearer ${forged}` } }),
    ...await statuses(app, 1, { url: '/api/event/bob', remoteAddress: '10.0.2.1', headers: { authorization: `Bearer ${expired}` } })
  ]
  t.same(attempts, [401, 401, 401], 'refused by authentication, counted all the same')
  t.equal((await app.inject({ url: '/api/event/bob', remoteAddress: '10.0.2.1' })).statusCode, 429, 'that address has spent its allowance')
  const bob = await app.inject(as('bob', '10.0.2.1'))
  t.equal(bob.statusCode, 200, 'bob\'s own allowance was not spent by them')
  t.equal(bob.headers['x-ratelimit-remaining'], '1')
})

t.test('an SSE connection counts once, however long it streams', async t => {
  const { url } = await startService(t, { env: { RATE_LIMIT: '2', SSE_HEARTBEAT: '50ms' }, listen: 0 })
  const sse = await readSse(t, `${url}/noti/users/alice/sub`)
  t.equal(sse.status, 200)
  t.equal(sse.headers.get('x-ratelimit-remaining'), '1', 'the connection spent one request')
  // heartbeats and events flow on the open connection; the allowance is what it was
  await sse.next(ev => ev.event === 'position')
  const second = await fetch(`${url}/api/event/alice`)
  t.equal(second.status, 200)
  t.equal(second.headers.get('x-ratelimit-remaining'), '0')
  // a new SSE connection past the allowance: told to come back (an EventSource gives up for good on a 429)
  const third = await fetch(`${url}/noti/users/alice/sub`, { headers: { accept: 'text/event-stream' } })
  t.equal(third.status, 200, 'a new SSE connection past the allowance')
  t.match(third.headers.get('content-type'), /^text\/event-stream/)
  t.ok(Number(third.headers.get('retry-after')) > 0)
  t.equal(third.headers.get('x-ratelimit-remaining'), '0')
  t.match(await third.text(), /^retry: \d+\n: 429: more than 2 requests in a minute; retry in .*\n\n$/, 'a retry hint, why, and the end')
  sse.close()
})

t.test('X-Forwarded-For names the client only from a proxy TRUST_PROXY trusts', async t => {
  const via = (client: string): InjectOptions => ({ url: '/api/event/alice', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } })
  const direct = await startService(t, { env: { RATE_LIMIT: '2' } })
  t.same(await statuses(direct.app, 3, via('203.0.113.1')), [200, 200, 429])
  t.equal((await direct.app.inject(via('203.0.113.2'))).statusCode, 429, 'untrusted: a made-up X-Forwarded-For does not buy a new allowance')

  const proxied = await startService(t, { env: { RATE_LIMIT: '2', TRUST_PROXY: 'loopback' } })
  t.same(await statuses(proxied.app, 3, via('203.0.113.1')), [200, 200, 429])
  t.equal((await proxied.app.inject(via('203.0.113.2'))).statusCode, 200, 'behind a trusted proxy each client has its own allowance')
  t.equal((await proxied.app.inject({ ...via('203.0.113.3'), remoteAddress: '198.51.100.7' })).statusCode, 200)
  t.equal((await proxied.app.inject({ ...via('203.0.113.4'), remoteAddress: '198.51.100.7' })).statusCode, 200)
  t.equal((await proxied.app.inject({ ...via('203.0.113.5'), remoteAddress: '198.51.100.7' })).statusCode, 429, 'an untrusted sender is its own address, whatever it forwards')
})
