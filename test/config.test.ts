import t from 'tap'
import { loadConfig } from '../src/config.js'

t.test('defaults', async t => {
  const c = loadConfig({})
  t.equal(c.port, 3000)
  t.equal(c.natsUrl, undefined, 'no NATS_URL: embedded nats-server')
  t.same([...c.roles], ['api', 'projections', 'workers'])
  t.equal(c.stream.duplicateWindowMs, 120_000)
  t.equal(c.stream.replicas, 1)
  t.same(c.auth, { mode: 'off' })
  t.match(c.dbFile, /data\/jetway\.db$/)
})

t.test('a wrong value stops the start with a message naming the variable', async t => {
  const cases: Record<string, string> = {
    PORT: 'eighty',
    NATS_URL: 'localhost:4222',
    ROLES: 'api,cooking',
    AUTH_MODE: 'maybe',
    STREAM_REPLICAS: '0',
    DUPLICATE_WINDOW: 'two minutes',
    LOG_LEVEL: 'loud',
    // over the 100 characters a duration may have (src/lib/duration.ts)
    JOB_TIMEOUT: `${'0'.repeat(99)}1s`
  }
  for (const [name, value] of Object.entries(cases)) {
    t.throws(() => loadConfig({ [name]: value }), { name: 'ConfigError', message: new RegExp(`${name}=`) }, name)
  }
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt' }), /JWT_SECRET/)
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt', JWT_SECRET: 'short' }), /JWT_SECRET=/)
})

t.test('production refuses to start with auth off unless told so explicitly', async t => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), { code: 'JETWAY_CONFIG' })
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /AUTH_MODE must be set in production/)
  t.equal(loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'off' }).auth.mode, 'off')
  t.equal(loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), INTAKE_KEY: 'intake-secret-1' }).auth.mode, 'jwt')
})

t.test('roles and durations parse', async t => {
  const c = loadConfig({ ROLES: 'api, workers', DUPLICATE_WINDOW: '90s', READ_WAIT: '250ms', STREAM_REPLICAS: '3' })
  t.same([...c.roles], ['api', 'workers'])
  t.equal(c.stream.duplicateWindowMs, 90_000)
  t.equal(c.readWaitMs, 250)
  t.equal(c.stream.replicas, 3)
})

t.test('rate limit: off outside production, 6000 a minute in production, RATE_LIMIT=0 or off disables', async t => {
  t.equal(loadConfig({}).rateLimit, undefined, 'development and tests: off')
  const prod = { NODE_ENV: 'production', AUTH_MODE: 'off' }
  t.same(loadConfig(prod).rateLimit, { max: 6000, windowMs: 60_000 })
  t.same(loadConfig({ ...prod, RATE_LIMIT: '100', RATE_LIMIT_WINDOW: '10s' }).rateLimit, { max: 100, windowMs: 10_000 })
  t.same(loadConfig({ RATE_LIMIT: '50' }).rateLimit, { max: 50, windowMs: 60_000 }, 'on in development when asked for')
  t.equal(loadConfig({ ...prod, RATE_LIMIT: '0' }).rateLimit, undefined)
  t.equal(loadConfig({ ...prod, RATE_LIMIT: 'off' }).rateLimit, undefined)
  for (const [name, value] of [['RATE_LIMIT', 'lots'], ['RATE_LIMIT', '-1'], ['RATE_LIMIT_WINDOW', 'a minute']]) {
    t.throws(() => loadConfig({ [name!]: value }), { name: 'ConfigError', message: new RegExp(`${name}=`) }, `${name}=${value}`)
  }
  t.throws(() => loadConfig({ RATE_LIMIT_WINDOW: '500ms' }), /RATE_LIMIT_WINDOW must be at least 1s/)
})

t.test('CORS_ORIGINS: none by default, a list of origins, or *', async t => {
  t.same(loadConfig({}).corsOrigins, [])
  t.same(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.same(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins, ['*'])
  for (const value of ['app.example.com', 'https://app.example.com/', 'https://a.example/path', '*, https://a.example', 'ftp://a.example']) {
    t.throws(() => loadConfig({ CORS_ORIGINS: value }), { message: /CORS_ORIGINS=/ }, value)
  }
})

t.test('TRUST_PROXY and HSTS_MAX_AGE', async t => {
  t.equal(loadConfig({}).trustProxy, false, 'no proxy trusted by default: X-Forwarded-For is ignored')
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1, 'a hop count')
  t.equal(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::1' }).trustProxy, 'loopback,10.0.0.0/8,fd00::1')
  for (const value of ['proxy.internal', '10.0.0.0/33', 'yes']) {
    t.throws(() => loadConfig({ TRUST_PROXY: value }), { message: /TRUST_PROXY/ }, value)
  }
  t.equal(loadConfig({}).hstsMaxAgeS, undefined)
  t.equal(loadConfig({ HSTS_MAX_AGE: '365d' }).hstsMaxAgeS, 31_536_000)
  t.throws(() => loadConfig({ HSTS_MAX_AGE: 'forever' }), /HSTS_MAX_AGE=/)
})

t.test('WORKER_ACK_WAIT: unset keeps each consumer\'s declared ack_wait; set, every worker consumer takes it', async t => {
  t.equal(loadConfig({}).workers.ackWaitMs, undefined)
  t.equal(loadConfig({ WORKER_ACK_WAIT: '2s' }).workers.ackWaitMs, 2000)
  t.throws(() => loadConfig({ WORKER_ACK_WAIT: 'soon' }), /WORKER_ACK_WAIT=/)
  t.throws(() => loadConfig({ WORKER_ACK_WAIT: '500ms' }), /WORKER_ACK_WAIT must be at least 1.5s/)
})

t.test('COLLECT_WRITE_KEYS: none by default; a list; a bad key named by its place, never by its text', async t => {
  t.same(loadConfig({}).collect.writeKeys, [])
  t.same(loadConfig({ COLLECT_WRITE_KEYS: ' key-one-123, key-two-456 ,key-one-123' }).collect.writeKeys, ['key-one-123', 'key-two-456'])
  for (const value of ['short', 'good-key-1,has space in', 'good-key-1,', 'user:password-like']) {
    const err = t.throws(() => loadConfig({ COLLECT_WRITE_KEYS: value }), { message: /COLLECT_WRITE_KEYS: key \d of \d/ }, value) as Error
    for (const part of value.split(',').filter(p => p.length > 2)) t.notMatch(err.message, part.trim(), 'the key is not echoed')
  }
})
