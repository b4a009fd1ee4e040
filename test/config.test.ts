import t from 'tap'
import { loadConfig } from '../src/config.js'
import { Env, variableOf } from '../src/schema/config.js'
import { RETAINED_STREAMS, type RetainedStream } from '../src/store/retention.js'

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

// One row per variable of Env: a wrong value, and what the message must say it takes. A
// variable without a row fails the test below: a new variable adds its row here.
const WRONG: Record<keyof Env, { value: string, takes: RegExp, secret?: true }> = {
  NODE_ENV: { value: 'prod', takes: /production, development or test/ },
  PORT: { value: '99999', takes: /a port number from 0 to 65535/ },
  HOST: { value: 'local host', takes: /an IP address or a host name/ },
  NATS_URL: { value: 'http://localhost:4222', takes: /nats:\/\/host:port URLs/ },
  NATS_PORT: { value: '0', takes: /a port number from 1 to 65535/ },
  READ_MODEL_URL: { value: 'mysql://db/jetway', takes: /postgres:\/\/user:password@host:5432\/database/ },
  PROJECTION_TAKEOVER: { value: '500ms', takes: /a duration .* from 1s/ },
  DATA_DIR: { value: 'data\ndir', takes: /a directory path/ },
  NATS_SYNC: { value: 'sometimes', takes: /always .*default .*or a duration/ },
  ROLES: { value: 'api,cooking', takes: /api, projections, workers/ },
  PROJECTIONS_THREAD: { value: 'yes', takes: /on or off/ },
  READ_THREADS: { value: '100', takes: /from 0 to 99/ },
  AUTH_MODE: { value: 'maybe', takes: /off or jwt/ },
  JWT_SECRET: { value: 'too-short', takes: /at least 16 characters/, secret: true },
  JWT_JWKS_URL: { value: 'ftp://keys.example/jwks.json', takes: /an http:\/\/ or https:\/\/ URL/ },
  JWT_ISSUER: { value: ' https://issuer.example ', takes: /without spaces around it/ },
  JWT_AUDIENCE: { value: 'api,,console', takes: /aud values, comma-separated/ },
  LOG_LEVEL: { value: 'loud', takes: /fatal, error, warn, info, debug, trace or silent/ },
  STREAM_REPLICAS: { value: '0', takes: /from 1 to 5/ },
  STREAM_STORAGE: { value: 'disk', takes: /file or memory/ },
  DUPLICATE_WINDOW: { value: 'two minutes', takes: /a duration .* from 1ms/ },
  BODY_LIMIT: { value: '0', takes: /from 1 to 1073741824/ },
  REQUEST_TIMEOUT: { value: '500ms', takes: /a duration .* from 1s/ },
  READ_WAIT: { value: '30d', takes: /a duration .* to 24d/ },
  // over the 100 characters a duration may have (src/lib/duration.ts)
  JOB_TIMEOUT: { value: `${'0'.repeat(99)}1s`, takes: /a duration .* from 1s/ },
  JOB_SIMULATOR: { value: 'true', takes: /on or off/ },
  INTAKE_KEY: { value: 'seven77', takes: /at least 8 characters/, secret: true },
  COLLECT_WRITE_KEYS: { value: 'good-key-1,has space in', takes: /8 to 256 printable ASCII characters/, secret: true },
  INTAKE_AUTH: { value: 'key', takes: /token/ },
  SSE_HEARTBEAT: { value: '0', takes: /a duration .* from 10ms to 24d/ },
  SSE_MAX_CONNECTIONS: { value: '0', takes: /from 1 to 9999999/ },
  SSE_MAX_PER_USER: { value: '-1', takes: /from 1 to 9999999/ },
  SSE_MAX_BUFFER: { value: '1MB', takes: /from 1 to 9999999999/ },
  READY_MAX_LAG: { value: 'lots', takes: /from 0 to 999999999/ },
  WORKER_MAX_DELIVER: { value: '1000', takes: /from 1 to 999/ },
  WORKER_BACKOFF: { value: '0', takes: /a duration .* from 1ms/ },
  WORKER_ACK_WAIT: { value: '500ms', takes: /a duration .* from 1.5s to 24d/ },
  SMTP_URL: { value: 'mail.example.com:587', takes: /an smtp:\/\/ or smtps:\/\/ URL/ },
  MAIL_FROM: { value: 'Jetway', takes: /an email address/ },
  REMINDER_LEAD: { value: '-5m', takes: /a duration/ },
  TIMER_TICK: { value: '25d', takes: /a duration .* to 24d/ },
  PUBLIC_URL: { value: 'jetway.example.com', takes: /an http:\/\/ or https:\/\/ URL/ },
  RELAY_ALLOW: { value: '10.0.0.0/40', takes: /CIDRs, IP addresses or host names/ },
  OUTBOUND_TIMEOUT: { value: '0', takes: /a duration .* from 1ms/ },
  OUTBOUND_MAX_BODY: { value: '10MB', takes: /from 1 to 1073741824/ },
  RELAY_RETRY: { value: 'many', takes: /from 0 to 99/ },
  RELAY_BACKOFF_POLICY: { value: 'random', takes: /linear or exponential/ },
  RELAY_BACKOFF_DELAY: { value: 'PT1S', takes: /a duration/ },
  RELAY_MAX_RETRY_AFTER: { value: 'soon', takes: /a duration/ },
  RELAY_MAX_STORED_BODY: { value: '1048576', takes: /from 0 to 524288/ },
  RELAY_LEASE_TTL: { value: '500ms', takes: /a duration .* from 1s/ },
  WEBHOOK_SECRET: { value: 'whsec_c2hvcnQ=', takes: /whsec_ followed by the base64 of at least 24 random bytes/, secret: true },
  TASK_TOKEN_SECRET: { value: 'not-thirty-two-characters', takes: /at least 32 characters/, secret: true },
  TASK_TIMEOUT: { value: '0', takes: /a duration .* from 1s/ },
  SCHEDULE_GRACE: { value: '100ms', takes: /a duration .* from 1s/ },
  TASK_CALLBACK_RETRY: { value: '-1', takes: /from 0 to 99/ },
  TASK_CALLBACK_BACKOFF_POLICY: { value: 'random', takes: /linear or exponential/ },
  TASK_CALLBACK_BACKOFF_DELAY: { value: 'PT1S', takes: /a duration/ },
  TASK_CALLBACK_MAX_RETRY_AFTER: { value: 'soon', takes: /a duration/ },
  RATE_LIMIT: { value: 'lots', takes: /off, or requests per RATE_LIMIT_WINDOW/ },
  RATE_LIMIT_WINDOW: { value: '500ms', takes: /a duration .* from 1s/ },
  TRUST_PROXY: { value: 'proxy.internal', takes: /true, a hop count .* or IP addresses, CIDRs/ },
  CORS_ORIGINS: { value: 'app.example.com', takes: /origins \(scheme:\/\/host\[:port\]\)/ },
  HSTS_MAX_AGE: { value: 'forever', takes: /a duration/ },
  ...Object.fromEntries(RETAINED_STREAMS.map(s => [`RETENTION_${s}`, { value: 'a year', takes: /a duration/ }])) as Record<`RETENTION_${RetainedStream}`, { value: string, takes: RegExp }>,
  KEEP_FINISHED: { value: '10ms', takes: /a duration .* from 1s/ },
  ERASURE_KEY: { value: 'short', takes: /at least 32 characters/, secret: true }
}

t.test('every variable has a wrong-value row, and its schema says what it takes', async t => {
  t.same(Object.keys(WRONG).sort(), Object.keys(Env.properties).sort(), 'one row per variable of Env')
  for (const name of Object.keys(Env.properties)) {
    t.type(variableOf(name)?.takes, 'string', `${name} says what it takes`)
    t.equal(variableOf(name)?.secret === true, WRONG[name as keyof Env].secret === true, `${name}: ${WRONG[name as keyof Env].secret === true ? 'a secret' : 'not a secret'}`)
  }
})

t.test('a wrong value stops the start with one sentence: the variable, what it got, what it takes', async t => {
  for (const [name, { value, takes, secret }] of Object.entries(WRONG)) {
    const err = t.throws(() => loadConfig({ [name]: value }), { name: 'ConfigError', code: 'JETWAY_CONFIG' }, name) as Error | undefined
    if (err === undefined) continue
    const lines = err.message.split('\n')
    t.equal(lines.length, 2, `${name}: a heading and one line`)
    const line = lines[1]!.trim()
    t.match(line, new RegExp(`^${name}[=]`), `${name}: named`)
    if (secret === true) {
      t.notOk(line.includes(value), `${name}: the secret is not echoed`)
      t.match(line, `=(${value.length} characters, not shown)`, `${name}: only its length`)
    } else {
      t.ok(line.includes(value) || line.includes(JSON.stringify(value).slice(1, -1)) || value.length > 100, `${name}: ${line} echoes the value`)
    }
    t.match(line, takes, `${name}: says what it takes`)
    t.match(line, /: (.*; )?takes /, `${name}: in the one shape`)
    t.notMatch(line, /\^|\\d|Expected/, `${name}: no pattern, no TypeBox wording`)
  }
})

t.test('PORT=99999 stops at loadConfig, before anything starts; the ends of the ranges pass', async t => {
  t.throws(() => loadConfig({ PORT: '99999' }), { message: /PORT=99999: takes a port number from 0 to 65535/ })
  t.equal(loadConfig({ PORT: '0' }).port, 0)
  t.equal(loadConfig({ PORT: '65535' }).port, 65535)
  t.throws(() => loadConfig({ PORT: '65536' }), /PORT=65536/)
  t.equal(loadConfig({ NATS_PORT: '65535' }).natsPort, 65535)
  t.equal(loadConfig({ RELAY_MAX_STORED_BODY: '524288' }).relay.maxStoredBody, 524288)
  t.equal(loadConfig({ WORKER_ACK_WAIT: '1.5s' }).workers.ackWaitMs, 1500)
  t.equal(loadConfig({ TIMER_TICK: '24d' }).timerTickMs, 24 * 86_400_000)
  t.equal(loadConfig({ NODE_ENV: 'test' }).production, false)
})

t.test('several wrong values: one line each', async t => {
  const err = t.throws(() => loadConfig({ PORT: 'eighty', AUTH_MODE: 'maybe', LOG_LEVEL: 'loud' })) as Error
  t.same(err.message.split('\n').slice(1).map(l => l.trim().split(/[=:]/)[0]), ['PORT', 'AUTH_MODE', 'LOG_LEVEL'])
})

t.test("a URL's user and password are never echoed", async t => {
  for (const [name, value] of [
    ['SMTP_URL', 'smtp://mailer:hunter2@mail.example.com:99999'],
    ['NATS_URL', 'nats://s3cr3t-token@nats.example:4222,http://other:4222'],
    ['JWT_JWKS_URL', 'ftp://user:p@ss@keys.example/jwks.json'],
    ['PUBLIC_URL', 'gopher://admin:pw:x@jetway.example'],
    ['READ_MODEL_URL', 'mysql://mailer:hunter2@db/jetway']
  ] as const) {
    const err = t.throws(() => loadConfig({ [name]: value }), { message: new RegExp(`${name}=`) }) as Error
    for (const secret of ['hunter2', 's3cr3t-token', 'p@ss', 'pw:x', 'mailer', 'admin']) t.notOk(err.message.includes(secret), `${name}: ${secret} not shown`)
    t.match(err.message, '(not shown)@')
  }
})

t.test('a variable that another one needs: the same sentence, naming the one to set', async t => {
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt' }), { message: /JWT_SECRET is unset: AUTH_MODE=jwt needs it, or JWT_JWKS_URL instead; takes an HS256 secret of at least 16 characters/ })
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt', JWT_SECRET: 'short' }), { message: /JWT_SECRET=\(5 characters, not shown\)/ })
  t.ok(loadConfig({ AUTH_MODE: 'jwt', JWT_JWKS_URL: 'https://keys.example/jwks.json' }), 'a JWKS instead of a secret')
})

t.test('production refuses to start with auth off unless told so explicitly', async t => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), { code: 'JETWAY_CONFIG' })
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /AUTH_MODE is unset: NODE_ENV=production needs it set; takes jwt, or off/)
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
  t.throws(() => loadConfig({ RATE_LIMIT_WINDOW: '500ms' }), /RATE_LIMIT_WINDOW=500ms: takes a duration .* from 1s/)
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
  t.throws(() => loadConfig({ WORKER_ACK_WAIT: '500ms' }), /WORKER_ACK_WAIT=500ms: takes a duration .* from 1.5s/)
})

t.test('COLLECT_WRITE_KEYS: none by default; a list; a bad key named by its place, never by its text', async t => {
  t.same(loadConfig({}).collect.writeKeys, [])
  t.same(loadConfig({ COLLECT_WRITE_KEYS: ' key-one-123, key-two-456 ,key-one-123' }).collect.writeKeys, ['key-one-123', 'key-two-456'])
  for (const value of ['short', 'good-key-1,has space in', 'good-key-1,', 'user:password-like']) {
    const err = t.throws(() => loadConfig({ COLLECT_WRITE_KEYS: value }), { message: /COLLECT_WRITE_KEYS=\(\d+ characters, not shown\): key \d of \d/ }, value) as Error
    for (const part of value.split(',').filter(p => p.length > 2)) t.notMatch(err.message, part.trim(), 'the key is not echoed')
  }
})
