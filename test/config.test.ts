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
    LOG_LEVEL: 'loud'
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

t.test('WORKER_ACK_WAIT: unset keeps each consumer\'s declared ack_wait; set, every worker consumer takes it', async t => {
  t.equal(loadConfig({}).workers.ackWaitMs, undefined)
  t.equal(loadConfig({ WORKER_ACK_WAIT: '2s' }).workers.ackWaitMs, 2000)
  t.throws(() => loadConfig({ WORKER_ACK_WAIT: 'soon' }), /WORKER_ACK_WAIT=/)
  t.throws(() => loadConfig({ WORKER_ACK_WAIT: '500ms' }), /WORKER_ACK_WAIT must be at least 1.5s/)
})
