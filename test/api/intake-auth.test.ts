import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import { startService, post, countOn } from '../fixtures/service.js'
import { loadConfig, ConfigError } from '../../src/config.js'

// The completion intake sets the outcome of anyone's job. In jwt mode it takes INTAKE_KEY or a
// token with role service or admin, and is never open.

const SECRET = 'a-test-secret-of-enough-length'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
const bearer = (claims: object) => ({ authorization: `Bearer ${sign(claims)}` })
const grid = (id: string) => [{ id, eventType: 'VRD.ML.CompleteEvent', data: { desc: 'done' } }]

/** `n` jobs of the token's user, to complete: the intake answers 404 for a job never requested. */
async function jobs (app: FastifyInstance, n: number, headers: Record<string, string>): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) ids.push((await post(app, '/noti/pub', { eventType: 'TEST', userId: 'ann' }, headers)).json().eventId)
  return ids
}

t.test('jwt mode without INTAKE_KEY: only a service or admin token reports outcomes', async t => {
  const { app, runtime } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const refused: [string, Record<string, string>, number][] = [
    ['no credentials', {}, 401],
    ['a user token', bearer({ sub: 'mallory' }), 403],
    ['a user token with another role', bearer({ sub: 'mallory', roles: ['reader'] }), 403],
    ['a forged service token', { authorization: `Bearer ${createSigner({ key: 'not-the-secret-at-all', expiresIn: 60_000 })({ sub: 'x', role: 'service' })}` }, 401],
    ['an expired service token', { authorization: `Bearer ${createSigner({ key: SECRET })({ sub: 'runner', role: 'service', exp: Math.floor(Date.now() / 1000) - 60 })}` }, 401],
    ['a made-up intake key', { 'x-intake-key': 'guessed-key-123' }, 401]
  ]
  for (const [what, headers, status] of refused) {
    const complete = await post(app, '/noti/complete/job-1', { eventStatus: 'Y' }, headers)
    t.equal(complete.statusCode, status, `/noti/complete, ${what}`)
    t.equal(complete.headers['content-type'], 'application/problem+json')
    const events = await post(app, '/noti/events', grid('job-1'), headers)
    t.equal(events.statusCode, status, `/noti/events, ${what}`)
  }
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 0, 'nothing appended')

  const [job2, job3, job4, job5] = await jobs(app, 4, bearer({ sub: 'ann' }))
  t.equal((await post(app, `/noti/complete/${job2!}`, { eventStatus: 'Y' }, bearer({ sub: 'ml-runner', role: 'service' }))).statusCode, 200, 'a service token')
  t.equal((await post(app, '/noti/events', grid(job3!), bearer({ sub: 'ml-runner', roles: ['service'] }))).statusCode, 200, 'roles: [service]')
  t.equal((await post(app, '/noti/events', grid(job4!), bearer({ role: 'service' }))).statusCode, 200, 'a machine token need not name a user')
  t.equal((await post(app, `/noti/complete/${job5!}`, { eventStatus: 'N' }, bearer({ sub: 'ops', roles: ['admin'] }))).statusCode, 200, 'an admin token')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 4)
  const options = await app.inject({ method: 'OPTIONS', url: '/noti/events', headers: { 'webhook-request-origin': 'runner.example' } })
  t.equal(options.statusCode, 200, 'the CloudEvents abuse-protection handshake needs no credentials')
})

t.test('jwt mode with INTAKE_KEY: the key or a service token', async t => {
  const { app, runtime } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, INTAKE_KEY: 'intake-secret-1' } })
  t.equal((await post(app, '/noti/complete/job-1', { eventStatus: 'Y' })).statusCode, 401, 'nothing')
  t.equal((await post(app, '/noti/complete/job-1', { eventStatus: 'Y' }, { 'x-intake-key': 'intake-secret-2' })).statusCode, 401, 'a wrong key')
  t.equal((await post(app, '/noti/events?key=intake-secret-', grid('job-1'))).statusCode, 401, 'a prefix of the key')
  t.equal((await post(app, '/noti/complete/job-1', { eventStatus: 'Y' }, bearer({ sub: 'mallory' }))).statusCode, 403, 'a user token')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 0)
  const [job2, job3, job4] = await jobs(app, 3, bearer({ sub: 'ann' }))
  t.equal((await post(app, `/noti/complete/${job2!}`, { eventStatus: 'Y' }, { 'x-intake-key': 'intake-secret-1' })).statusCode, 200, 'the key as a header')
  t.equal((await post(app, '/noti/events?key=intake-secret-1', grid(job3!))).statusCode, 200, 'the key in the webhook URL')
  t.equal((await post(app, '/noti/events', grid(job4!), bearer({ sub: 'ml-runner', role: 'service' }))).statusCode, 200, 'a service token')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 3)
})

t.test('production with AUTH_MODE=jwt refuses to start with an unprotected intake choice left unmade', async t => {
  const base = { NODE_ENV: 'production', AUTH_MODE: 'jwt', JWT_SECRET: SECRET }
  t.throws(() => loadConfig(base), ConfigError)
  t.throws(() => loadConfig(base), /INTAKE_KEY.*INTAKE_AUTH=token/)
  t.ok(loadConfig({ ...base, INTAKE_KEY: 'intake-secret-1' }), 'with INTAKE_KEY')
  t.ok(loadConfig({ ...base, INTAKE_AUTH: 'token' }), 'token-only, said explicitly')
  t.throws(() => loadConfig({ ...base, INTAKE_AUTH: 'token', INTAKE_KEY: 'intake-secret-1' }), /INTAKE_AUTH=token/, 'not both')
  t.throws(() => loadConfig({ AUTH_MODE: 'off', INTAKE_AUTH: 'token' }), /INTAKE_AUTH=token/, 'token-only needs jwt mode')
  t.throws(() => loadConfig({ INTAKE_AUTH: 'key' }), /INTAKE_AUTH/, 'only the value token')
  t.ok(loadConfig({ AUTH_MODE: 'jwt', JWT_SECRET: SECRET }), 'outside production the intake is token-only by default')
})
