import t from 'tap'
import Fastify from 'fastify'
import { installErrorHandlers } from '../../src/api/http/errors.js'
import { toHeader, msgIdOf, keyOf } from '../../src/store/events.js'
import { VersionConflict } from '../../src/lib/errors.js'
import { TaskClosed } from '../../src/domain/task.js'

// The error handler is the last line: whatever a library throws, the answer is problem+json.

t.test('the error handler answers problem+json whatever is thrown', async t => {
  const app = Fastify()
  installErrorHandlers(app)
  const thrown: Record<string, () => unknown> = {
    // what nats.js throws when JetStream refuses a message's size: a numeric code
    'numeric-code': () => Object.assign(new Error('maximum message size exceeded'), { code: 10054 }),
    'object-code': () => Object.assign(new Error('odd'), { code: { nested: true } }),
    'no-message': () => Object.assign(new Error(), { code: 'SOME_CODE', statusCode: 400 }),
    'status-200': () => Object.assign(new Error('fine?'), { statusCode: 200 }),
    'status-99': () => Object.assign(new Error('tiny'), { statusCode: 99 }),
    'status-600': () => Object.assign(new Error('huge'), { statusCode: 600 }),
    'status-string': () => Object.assign(new Error('text'), { statusCode: '404' }),
    'status-422': () => Object.assign(new Error('unprocessable'), { statusCode: 422, code: 42 }),
    'plain-object': () => ({ message: 12, code: null }),
    string: () => 'just a string',
    null: () => null
  }
  for (const [name, make] of Object.entries(thrown)) {
    app.get(`/${name}`, async () => { throw make() })
  }
  const expected: Record<string, number> = { 'no-message': 400, 'status-422': 422 }
  for (const name of Object.keys(thrown)) {
    const r = await app.inject({ url: `/${name}?access_token=tok-123` })
    t.equal(r.statusCode, expected[name] ?? 500, `${name}: status`)
    t.equal(r.headers['content-type'], 'application/problem+json', `${name}: problem+json`)
    const body = r.json()
    t.equal(body.status, r.statusCode, `${name}: status in the body`)
    t.type(body.code, 'string', `${name}: a string code`)
    t.type(body.detail, 'string', `${name}: a string detail`)
    t.equal(body.instance, `/${name}?access_token=REDACTED`, `${name}: instance redacted`)
  }
  t.equal((await app.inject({ url: '/no-message' })).json().code, 'SOME_CODE', 'a string code is kept')
  t.match((await app.inject({ url: '/numeric-code' })).json(), { code: 'JETWAY_INTERNAL', detail: /^internal error/ }, '5xx details stay in the log')
  await app.close()
})

t.test('a version conflict and a domain refusal are two codes, each a 409', async t => {
  const app = Fastify()
  installErrorHandlers(app)
  app.get('/raced', async () => { throw new VersionConflict() })
  app.get('/refused', async () => { throw new TaskClosed('t1', 'SUCCEEDED') })
  const raced = await app.inject({ url: '/raced' })
  t.equal(raced.statusCode, 409)
  t.match(raced.json(), { code: 'JETWAY_VERSION_CONFLICT', type: 'urn:jetway:problem:version-conflict', detail: 'the resource changed since the version you sent' })
  const refused = await app.inject({ url: '/refused' })
  t.equal(refused.statusCode, 409)
  t.match(refused.json(), { code: 'JETWAY_CONFLICT', type: 'urn:jetway:problem:conflict', detail: /is SUCCEEDED/ })
  await app.close()
})

t.test('the envelope never throws on any string', async t => {
  t.equal(toHeader('a\r\nb'), 'a%0D%0Ab')
  t.equal(toHeader('u\uD800'), 'u%EF%BF%BD', 'a lone surrogate becomes U+FFFD, not a URIError')
  t.equal(toHeader('ü%"'), '%C3%BC%25%22')
  t.equal(msgIdOf('collect:plain-1'), 'collect:plain-1', 'a plain key stays readable')
  for (const key of ['complete:\r\nX', 'x'.repeat(100_000), 'k\uD800', 'with space']) {
    t.match(msgIdOf(key), /^sha256:[\w-]{43}$/, `hashed: ${JSON.stringify(key.slice(0, 12))}`)
  }
  t.not(msgIdOf('k\uD800'), msgIdOf('k\uDC00'), 'lone surrogates do not collide')
  t.not(keyOf('collect', 'a:b', 'c'), keyOf('collect', 'a', 'b:c'), 'parts are unambiguous')
  t.equal(keyOf('collect', 'alice', 'e1'), keyOf('collect', 'alice', 'e1'))
  t.not(keyOf('collect', 'alice', 'e1'), keyOf('collect', 'bob', 'e1'))
})
