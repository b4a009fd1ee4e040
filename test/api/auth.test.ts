import t from 'tap'
import { createServer } from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import { startService, post, seqOf } from '../fixtures/service.js'

const SECRET = 'a-test-secret-of-enough-length'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
const bearer = (claims: object) => ({ authorization: `Bearer ${sign(claims)}` })
const event = (id: string, user: string) => ({ event_id: id, event: 'view', user_id: user })

t.test('auth off: the request names the user, as the seed does', async t => {
  const { app } = await startService(t, { env: { AUTH_MODE: 'off' } })
  const r = await post(app, '/api/collect', event('off-1', 'anyone'))
  t.equal(r.statusCode, 200)
  const found = await app.inject({ url: `/api/event/anyone?min_seq=${r.headers['jetway-seq'] as string}` })
  t.equal(found.json().items.length, 1)
})

t.test('jwt (HS256): a user writes and reads only their own events; admin acts for others', async t => {
  const { app, runtime } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const none = await post(app, '/api/collect', event('j-0', 'alice'))
  t.equal(none.statusCode, 401)
  t.match(none.json(), { status: 401, code: 'JETWAY_UNAUTHORIZED', is_success: false })
  const forged = await post(app, '/api/collect', event('j-0', 'alice'), { authorization: `Bearer ${createSigner({ key: 'another-secret-entirely!!', expiresIn: 3_600_000 })({ sub: 'alice' })}` })
  t.equal(forged.statusCode, 401)

  const alice = bearer({ sub: 'alice' })
  const own = await post(app, '/api/collect', event('j-1', 'alice'), alice)
  t.equal(own.statusCode, 200)
  const asBob = await post(app, '/api/collect', event('j-2', 'bob'), alice)
  t.equal(asBob.statusCode, 403)
  t.match(asBob.json(), { status: 403, code: 'JETWAY_FORBIDDEN', is_success: false })

  const admin = bearer({ sub: 'ops', role: 'admin' })
  const forBob = await post(app, '/api/collect', event('j-3', 'bob'), admin)
  t.equal(forBob.statusCode, 200)
  const seq = forBob.headers['jetway-seq'] as string
  const msg = await runtime.jsm.streams.getMessage('COLLECT', { seq: seqOf(forBob) })
  t.equal(msg!.header.get('ce-actor'), 'ops', 'the event records who caused it')

  const mine = await app.inject({ url: `/api/event/alice?min_seq=${seq}`, headers: alice })
  t.same(mine.json().items.map((e: { event_id: string }) => e.event_id), ['j-1'])
  for (const r of [
    await app.inject({ url: '/api/event/bob', headers: alice }),
    await app.inject({ url: '/api/event?user_id=bob', headers: alice }),
    await post(app, '/api/search', { user_id: 'bob' }, alice)
  ]) {
    t.equal(r.statusCode, 403, 'alice cannot read bob')
  }
  const byEmail = await app.inject({ url: '/api/event/bob', headers: bearer({ email: 'bob' }) })
  t.equal(byEmail.json().items.length, 1, 'the email claim names the user when there is no sub')
  const adminReads = await app.inject({ url: '/api/event/bob', headers: bearer({ sub: 'ops', roles: ['admin'] }) })
  t.equal(adminReads.json().items.length, 1)
  const batch = await post(app, '/api/collect/batch', { events: [event('j-4', 'alice'), event('j-5', 'bob')] }, alice)
  t.match(batch.json(), { accepted: 1, rejected: 1, results: [{ status: 'accepted' }, { status: 'rejected', errors: [{ field: 'events.1.user_id' }] }] })
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'health needs no token')
})

t.test('jwt (JWKS): RS256 tokens verified with keys from a JWKS URL', async t => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
  const jwks = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(req.url === '/keys.json' ? { keys: [jwk] } : {}))
  })
  await new Promise<void>(resolve => jwks.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { jwks.close() })
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/keys.json`
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_JWKS_URL: url } })
  const signRs = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'RS256', kid: 'k1', expiresIn: 3_600_000 })
  const ok = await post(app, '/api/collect', event('k-1', 'carol'), { authorization: `Bearer ${signRs({ sub: 'carol' })}` })
  t.equal(ok.statusCode, 200)
  const hs = await post(app, '/api/collect', event('k-2', 'carol'), bearer({ sub: 'carol' }))
  t.equal(hs.statusCode, 401, 'an HS256 token is not accepted in JWKS mode')
})
