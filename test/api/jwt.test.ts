import t from 'tap'
import { createServer } from 'node:http'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import type { Test } from 'tap'
import { startService } from '../fixtures/service.js'
import { Jwks } from '../../src/api/http/jwks.js'

const SECRET = 'a-test-secret-of-enough-length'
const now = () => Math.floor(Date.now() / 1000)

t.test('exp is required; aud and iss are checked when configured, and then required', async t => {
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, JWT_AUDIENCE: 'jetway, jetway-admin', JWT_ISSUER: 'https://idp.test/' } })
  const sign = createSigner({ key: SECRET })
  const valid = { sub: 'alice', exp: now() + 600, aud: 'jetway', iss: 'https://idp.test/' }
  const read = async (claims: object) => await app.inject({ url: '/api/event/alice', headers: { authorization: `Bearer ${sign(claims)}` } })
  t.equal((await read(valid)).statusCode, 200, 'a valid token')
  t.equal((await read({ ...valid, aud: ['other', 'jetway-admin'] })).statusCode, 200, 'one of the audiences')
  const refused: [string, object, RegExp][] = [
    ['no exp: valid forever', { ...valid, exp: undefined }, /exp claim is required/],
    ['expired', { ...valid, exp: now() - 60 }, /expired/],
    ['no aud', { ...valid, aud: undefined }, /aud claim is required/],
    ['another aud', { ...valid, aud: 'billing' }, /aud/],
    ['no iss', { ...valid, iss: undefined }, /iss claim is required/],
    ['another iss', { ...valid, iss: 'https://evil.test/' }, /iss/]
  ]
  for (const [what, claims, detail] of refused) {
    const r = await read(claims)
    t.equal(r.statusCode, 401, what)
    t.match(r.json(), { code: 'JETWAY_UNAUTHORIZED', detail }, what)
  }
})

/** A JWKS on 127.0.0.1 that counts its fetches; `state.status` other than 200 plays an outage. */
async function jwksServer (t: Test, keys: object[], state = { status: 200 }): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    res.statusCode = state.status
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(req.url === '/keys.json' && state.status === 200 ? { keys } : {}))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys.json`, hits: () => hits }
}

function rsaKey (kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
    sign: (claims: object, signKid = kid) => createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'RS256', kid: signKid, expiresIn: 600_000 })(claims)
  }
}

t.test('JWKS: random kids do not make the service fetch the key set on every request', async t => {
  const k1 = rsaKey('k1')
  const jwks = await jwksServer(t, [k1.jwk])
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url } })
  const read = async (token: string) => await app.inject({ url: '/api/event/carol', headers: { authorization: `Bearer ${token}` } })
  t.equal((await read(k1.sign({ sub: 'carol' }))).statusCode, 200)
  t.equal(jwks.hits(), 1, 'one fetch for the first token')
  const random = await Promise.all(Array.from({ length: 50 }, async () => await read(k1.sign({ sub: 'carol' }, randomUUID()))))
  t.ok(random.every(r => r.statusCode === 401), 'unknown kids are refused')
  t.equal(jwks.hits(), 1, '50 random kids cost no fetch')
  t.equal((await read(k1.sign({ sub: 'carol' }))).statusCode, 200, 'the known key still works')
  t.equal(jwks.hits(), 1, 'from the cache')
})

t.test('JWKS key set: one fetch per cooldown for misses, a rotated key found by the next fetch, stale keys kept when the JWKS is down', async t => {
  const k1 = rsaKey('k1')
  const k2 = rsaKey('k2')
  const keys: object[] = [k1.jwk]
  const state = { status: 200 }
  const server = await jwksServer(t, keys, state)
  let clock = Date.parse('2030-01-01T00:00:00Z')
  const jwks = new Jwks({ url: server.url, missCooldownMs: 30_000, maxAgeMs: 600_000, clock: { now: () => new Date(clock) } })

  t.match(await jwks.keyFor('k1', 'RS256'), /BEGIN PUBLIC KEY/)
  t.equal(jwks.fetches, 1)
  await t.rejects(jwks.keyFor('k1', 'ES256'), /alg/, 'the key\'s alg is enforced')
  keys.push(k2.jwk) // rotated in after the last fetch
  await t.rejects(jwks.keyFor('k2', 'RS256'), /kid/, 'inside the cooldown an unknown kid is a miss')
  await t.rejects(jwks.keyFor('nope', 'RS256'), /kid/)
  t.equal(jwks.fetches, 1, 'misses inside the cooldown fetch nothing')

  clock += 30_000
  await Promise.all(Array.from({ length: 20 }, async () => await jwks.keyFor(randomUUID(), 'RS256').catch(() => {})))
  t.equal(jwks.fetches, 2, 'after the cooldown, concurrent misses share one fetch')
  t.match(await jwks.keyFor('k2', 'RS256'), /BEGIN PUBLIC KEY/, 'that fetch found the rotated key, whichever kid caused it')
  t.equal(jwks.fetches, 2)

  await t.rejects(jwks.keyFor('x'.repeat(300), 'RS256'), /kid/, 'an absurd kid is refused without a fetch')
  await t.rejects(jwks.keyFor(42, 'RS256'), /kid/)
  t.equal(jwks.fetches, 2)

  clock += 600_000
  state.status = 503
  t.match(await jwks.keyFor('k1', 'RS256'), /BEGIN PUBLIC KEY/, 'the JWKS is down: the keys already known still verify')
  t.equal(jwks.fetches, 3)
  await t.rejects(jwks.keyFor('k3', 'RS256'), /kid/)
  t.equal(jwks.fetches, 3, 'a failed fetch starts the cooldown too')
  state.status = 200

  clock += 600_000
  keys.splice(0, 1) // k1 retired
  await t.rejects(jwks.keyFor('k1', 'RS256'), /kid/, 'a known key is refreshed once the set is old, and a retired one refused')
  t.equal(jwks.fetches, 4)

  clock += 600_000
  keys.splice(0, keys.length)
  await t.rejects(jwks.keyFor('k2', 'RS256'), /kid/, 'an empty set drops every key')
  t.equal(jwks.fetches, 5)
})
