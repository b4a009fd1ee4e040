import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { Env, Roles, variableOf } from './schema/config.js'
import { parseDuration } from './lib/duration.js'
import type { DeliveryRetry } from './domain/delivery.js'
import { parseNatsSync, type NatsSync } from './store/durability.js'
import { defaultRetry } from './workers/worker.js'
import { retentionRule, RETAINED_STREAMS, type RetainedStream } from './store/retention.js'
import { formatDuration } from './lib/duration.js'

export type Role = typeof Roles[number]

export interface Config {
  production: boolean
  port: number
  host: string
  /** undefined: start the embedded nats-server child */
  natsUrl: string | undefined
  natsPort: number
  /** NATS_SYNC: how often the embedded nats-server fsyncs (src/store/durability.ts) */
  natsSync: NatsSync
  dataDir: string
  /** the SQLite read-model file, unless readModelUrl */
  dbFile: string
  /** READ_MODEL_URL: the read models in PostgreSQL, shared by a fleet; undefined: SQLite in dbFile */
  readModelUrl: string | undefined
  /** with readModelUrl: the longest a projection whose holder died waits for another instance to take it over */
  projectionTakeoverMs: number
  roles: Set<Role>
  /** the projections (and the timer ticker) in a worker thread, not on the HTTP event loop */
  projectionsThread: boolean
  /** threads that run searches of the collect-events read model; 0: the HTTP thread */
  readThreads: number
  auth: { mode: 'off' } | { mode: 'jwt', secret?: string, jwksUrl?: string, issuer?: string, audience?: string[] }
  logLevel: string
  stream: { replicas: number, storage: 'file' | 'memory', duplicateWindowMs: number }
  bodyLimit: number
  /** REQUEST_TIMEOUT: how long a request's headers and body may take to arrive, then 408 */
  requestTimeoutMs: number
  readWaitMs: number
  jobs: { timeoutMs: number, simulator: boolean, intakeKey: string | undefined }
  /** COLLECT_WRITE_KEYS: the keys the analytics SDK routes (/v1/*) take; empty: none set */
  collect: { writeKeys: string[] }
  sseHeartbeatMs: number
  sse: { maxConnections: number, maxPerUser: number, maxBufferedBytes: number }
  /** stream messages a read model may lag while /readyz answers 200 */
  readyMaxLag: number
  /** ackWaitMs undefined: each consumer's ack_wait as streams/<STREAM>.consumers.json declares it */
  workers: { maxDeliver: number, backoffMs: number, ackWaitMs: number | undefined }
  mail: { smtpUrl: string | undefined, from: string }
  reminderLeadMs: number
  /** how often each instance looks for due timers */
  timerTickMs: number
  /** base of links in emails */
  publicUrl: string
  /** every outbound HTTP call (src/lib/outbound.ts): createOutbound(config.outbound) */
  outbound: {
    /** RELAY_ALLOW: CIDRs, IPs or host names let through the SSRF guard */
    allow: string[]
    timeoutMs: number
    maxBodyBytes: number
    /** WEBHOOK_SECRET, `whsec_…`: the default Standard Webhooks signing key */
    webhookSecret: string | undefined
  }
  /** callback tasks (seed 003); tokenSecret undefined: a secret kept in DATA_DIR */
  tasks: {
    tokenSecret: string | undefined
    timeoutMs: number
    scheduleGraceMs: number
    /** how a task's callback is retried: the relay's delivery policy shape (TASK_CALLBACK_*) */
    callback: DeliveryRetry
  }
  /** the relay's defaults (seed 001): delivery policy of /async requests and triggers */
  relay: {
    retry: number
    backoffPolicy: 'linear' | 'exponential'
    backoffDelayMs: number
    maxRetryAfterMs: number
    /** default timeout of one delivery: OUTBOUND_TIMEOUT */
    timeoutMs: number
    maxStoredBody: number
    leaseTtlMs: number
  }
  /**
   * RATE_LIMIT per RATE_LIMIT_WINDOW, per user (a verified token) or per IP, in memory per
   * instance; undefined: off (the default outside production)
   */
  rateLimit: { max: number, windowMs: number } | undefined
  /** Fastify's trustProxy: who may set X-Forwarded-For (request.ip, the per-IP limit) */
  trustProxy: boolean | number | string
  /** CORS_ORIGINS: origins that may call the API from a browser (['*']: any); empty: no CORS */
  corsOrigins: string[]
  /** HSTS_MAX_AGE in seconds; undefined: no Strict-Transport-Security */
  hstsMaxAgeS: number | undefined
  /** RETENTION_<STREAM>: each stream's max_age in ms (src/store/retention.ts); absent: kept forever */
  retention: Partial<Record<RetainedStream, number>>
  /** KEEP_FINISHED: a finished job, task, relay request or past meeting is removed this long after; undefined: kept */
  keepFinishedMs: number | undefined
  /** ERASURE_KEY: the HMAC key of erased users' keys; undefined: one made once and kept in stream ERASURES */
  erasureKey: string | undefined
}

/** Whether a read-model location is a PostgreSQL URL (else it is a SQLite file path). */
export function isPostgresUrl (location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location)
}

/** Requests per minute per user or IP when NODE_ENV=production and RATE_LIMIT is unset. */
export const PRODUCTION_RATE_LIMIT = 6000

export class ConfigError extends Error {
  readonly code = 'JETWAY_CONFIG'
  override name = 'ConfigError'
}

/** The ConfigError of these wrong values (wrongValue's lines), one a line. */
export function invalidConfiguration (lines: readonly string[]): ConfigError {
  return new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
}

/**
 * One line of a ConfigError, the same for every wrong value: the variable, what it got (a
 * secret never, a URL without its user and password), and what it takes.
 *   PORT=99999: takes a port number from 0 to 65535 (0: any free port)
 *   JWT_SECRET is unset: AUTH_MODE=jwt needs it or JWT_JWKS_URL; takes an HS256 secret of at least 16 characters
 */
export function wrongValue (name: string, value: string | undefined, takes: string, why?: string): string {
  return `${gotten(name, value)}: ${why === undefined ? '' : `${why}; `}takes ${takes}`
}

/** `NAME=value`, quoted where a shell would need quotes; a secret shows its length only. */
function gotten (name: string, value: string | undefined): string {
  if (value === undefined) return `${name} is unset`
  if (variableOf(name)?.secret === true) return `${name}=(${value.length} characters, not shown)`
  // a URL's user info (user:password@, or a NATS token@) is a credential, however malformed the URL
  let shown = value.replace(/:\/\/.*@/s, '://(not shown)@')
  if (shown.length > 120) shown = `${shown.slice(0, 100)}…`
  return `${name}=${/^[\w.:/@%+,=*-]+$/.test(shown) ? shown : JSON.stringify(shown)}`
}

/** Reads the environment; throws ConfigError with one line per wrong value, each naming its variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string> = {}
  for (const key of Object.keys(Env.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') picked[key] = value
  }
  const wrong: string[] = []
  for (const [name, value] of Object.entries(picked)) {
    const variable = variableOf(name)!
    if (Value.Check(variable, value)) continue
    const why = variable.check?.(value)
    wrong.push(wrongValue(name, value, variable.takes, typeof why === 'string' ? why : undefined))
  }
  if (wrong.length > 0) throw invalidConfiguration(wrong)
  const e = picked as Env
  const production = e.NODE_ENV === 'production'
  const authMode = e.AUTH_MODE ?? 'off'
  // what one variable takes given another: the same sentence, naming the one to change
  if (production && e.AUTH_MODE === undefined) {
    wrong.push(wrongValue('AUTH_MODE', undefined, 'jwt, or off to run without auth on purpose', 'NODE_ENV=production needs it set'))
  }
  if (authMode === 'jwt' && e.JWT_SECRET === undefined && e.JWT_JWKS_URL === undefined) {
    wrong.push(wrongValue('JWT_SECRET', undefined, variableOf('JWT_SECRET')!.takes, 'AUTH_MODE=jwt needs it, or JWT_JWKS_URL instead'))
  }
  // The completion intake sets the outcome of anyone's job: in jwt mode it takes INTAKE_KEY or
  // a token with role service/admin. Production wants the key, or says it means token-only.
  if (e.INTAKE_AUTH === 'token' && (authMode !== 'jwt' || e.INTAKE_KEY !== undefined)) {
    wrong.push(wrongValue('INTAKE_AUTH', e.INTAKE_AUTH, 'token only with AUTH_MODE=jwt and no INTAKE_KEY (intake by service tokens only)',
      authMode !== 'jwt' ? `AUTH_MODE is ${authMode}` : 'INTAKE_KEY is set too'))
  }
  if (production && authMode === 'jwt' && e.INTAKE_KEY === undefined && e.INTAKE_AUTH === undefined) {
    wrong.push(wrongValue('INTAKE_KEY', undefined, variableOf('INTAKE_KEY')!.takes,
      'AUTH_MODE=jwt in production needs it for the completion intake, or INTAKE_AUTH=token to accept only tokens with role service or admin there'))
  }
  const retention = retentionOf(e, wrong, {
    jobTimeoutMs: parseDuration(e.JOB_TIMEOUT ?? '24h')!,
    leaseTtlMs: parseDuration(e.RELAY_LEASE_TTL ?? '15s')!,
    notifyLifeMs: notifyLifeOf(Number(e.WORKER_MAX_DELIVER ?? 5), parseDuration(e.WORKER_BACKOFF ?? '1s')!, e.WORKER_ACK_WAIT === undefined ? undefined : parseDuration(e.WORKER_ACK_WAIT)!)
  })
  if (wrong.length > 0) throw invalidConfiguration(wrong)
  const allow = (e.RELAY_ALLOW ?? '').split(',').map(a => a.trim()).filter(a => a !== '')
  const outboundTimeoutMs = parseDuration(e.OUTBOUND_TIMEOUT ?? '30s')!
  const natsSync = parseNatsSync(e.NATS_SYNC)
  const writeKeys = writeKeysOf(e.COLLECT_WRITE_KEYS)
  const dataDir = resolve(e.DATA_DIR ?? './data')
  const rateWindowMs = parseDuration(e.RATE_LIMIT_WINDOW ?? '1m')!
  const rateMax = e.RATE_LIMIT === undefined ? (production ? PRODUCTION_RATE_LIMIT : 0) : e.RATE_LIMIT === 'off' ? 0 : Number(e.RATE_LIMIT)
  return {
    production,
    port: Number(e.PORT ?? 3000),
    host: e.HOST ?? '127.0.0.1',
    natsUrl: e.NATS_URL,
    natsPort: Number(e.NATS_PORT ?? 4222),
    natsSync,
    dataDir,
    dbFile: resolve(dataDir, 'jetway.db'),
    readModelUrl: e.READ_MODEL_URL,
    projectionTakeoverMs: parseDuration(e.PROJECTION_TAKEOVER ?? '5s')!,
    roles: new Set((e.ROLES ?? 'api,projections,workers').split(',').map(r => r.trim() as Role)),
    projectionsThread: (e.PROJECTIONS_THREAD ?? 'on') === 'on',
    // the HTTP thread and the projection thread take two cores; a search hops to a read thread
    // only where more are left (on 2 cores the hop cost more than it saved: README, Benchmarks)
    readThreads: e.READ_THREADS === undefined ? Math.max(0, Math.min(4, availableParallelism() - 2)) : Number(e.READ_THREADS),
    auth: authMode === 'off'
      ? { mode: 'off' }
      : { mode: 'jwt', secret: e.JWT_SECRET, jwksUrl: e.JWT_JWKS_URL, issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE?.split(',').map(a => a.trim()) },
    logLevel: e.LOG_LEVEL ?? 'info',
    stream: {
      replicas: Number(e.STREAM_REPLICAS ?? 1),
      storage: e.STREAM_STORAGE ?? 'file',
      duplicateWindowMs: parseDuration(e.DUPLICATE_WINDOW ?? '2m')!
    },
    bodyLimit: Number(e.BODY_LIMIT ?? 1024 * 1024),
    requestTimeoutMs: parseDuration(e.REQUEST_TIMEOUT ?? '30s')!,
    readWaitMs: parseDuration(e.READ_WAIT ?? '5s')!,
    jobs: {
      timeoutMs: parseDuration(e.JOB_TIMEOUT ?? '24h')!,
      // the demo completes jobs by itself only where nobody else will: `npm start` alone
      simulator: (e.JOB_SIMULATOR ?? (e.NATS_URL === undefined ? 'on' : 'off')) === 'on',
      intakeKey: e.INTAKE_KEY
    },
    collect: { writeKeys },
    sseHeartbeatMs: parseDuration(e.SSE_HEARTBEAT ?? '15s')!,
    sse: {
      maxConnections: Number(e.SSE_MAX_CONNECTIONS ?? 20_000),
      maxPerUser: Number(e.SSE_MAX_PER_USER ?? 100),
      maxBufferedBytes: Number(e.SSE_MAX_BUFFER ?? 1024 * 1024)
    },
    readyMaxLag: Number(e.READY_MAX_LAG ?? 10_000),
    workers: {
      maxDeliver: Number(e.WORKER_MAX_DELIVER ?? 5),
      backoffMs: parseDuration(e.WORKER_BACKOFF ?? '1s')!,
      ackWaitMs: e.WORKER_ACK_WAIT === undefined ? undefined : parseDuration(e.WORKER_ACK_WAIT)!
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? 'Jetway <jetway@localhost>' },
    reminderLeadMs: parseDuration(e.REMINDER_LEAD ?? '30m')!,
    timerTickMs: parseDuration(e.TIMER_TICK ?? '250ms')!,
    publicUrl: (e.PUBLIC_URL ?? `http://${e.HOST ?? '127.0.0.1'}:${e.PORT ?? 3000}`).replace(/\/$/, ''),
    outbound: {
      allow,
      timeoutMs: outboundTimeoutMs,
      maxBodyBytes: Number(e.OUTBOUND_MAX_BODY ?? 10 * 1024 * 1024),
      webhookSecret: e.WEBHOOK_SECRET
    },
    tasks: {
      tokenSecret: e.TASK_TOKEN_SECRET,
      timeoutMs: parseDuration(e.TASK_TIMEOUT ?? '7d')!,
      scheduleGraceMs: parseDuration(e.SCHEDULE_GRACE ?? '30s')!,
      // unset, the task callback's policy is the one WORKER_MAX_DELIVER and WORKER_BACKOFF gave it before it had its own
      callback: {
        retry: e.TASK_CALLBACK_RETRY === undefined ? Number(e.WORKER_MAX_DELIVER ?? 5) - 1 : Number(e.TASK_CALLBACK_RETRY),
        backoffPolicy: e.TASK_CALLBACK_BACKOFF_POLICY ?? 'exponential',
        backoffDelayMs: parseDuration(e.TASK_CALLBACK_BACKOFF_DELAY ?? e.WORKER_BACKOFF ?? '1s')!,
        maxRetryAfterMs: parseDuration(e.TASK_CALLBACK_MAX_RETRY_AFTER ?? '1h')!
      }
    },
    relay: {
      retry: Number(e.RELAY_RETRY ?? 5),
      backoffPolicy: e.RELAY_BACKOFF_POLICY ?? 'exponential',
      backoffDelayMs: parseDuration(e.RELAY_BACKOFF_DELAY ?? '1s')!,
      maxRetryAfterMs: parseDuration(e.RELAY_MAX_RETRY_AFTER ?? '5m')!,
      timeoutMs: outboundTimeoutMs,
      maxStoredBody: Number(e.RELAY_MAX_STORED_BODY ?? 256 * 1024),
      leaseTtlMs: parseDuration(e.RELAY_LEASE_TTL ?? '15s')!
    },
    rateLimit: rateMax > 0 ? { max: rateMax, windowMs: rateWindowMs } : undefined,
    trustProxy: trustProxyOf(e.TRUST_PROXY),
    corsOrigins: (e.CORS_ORIGINS ?? '').split(',').map(o => o.trim()).filter(o => o !== ''),
    hstsMaxAgeS: e.HSTS_MAX_AGE === undefined ? undefined : Math.floor(parseDuration(e.HSTS_MAX_AGE)! / 1000),
    retention,
    keepFinishedMs: e.KEEP_FINISHED === undefined ? undefined : parseDuration(e.KEEP_FINISHED)!,
    erasureKey: e.ERASURE_KEY
  }
}

/**
 * RETENTION_<STREAM> of every stream, each checked against what the stream holds
 * (src/store/retention.ts); a refused one adds its line to `wrong`.
 */
function retentionOf (e: Env, wrong: string[], inputs: Parameters<typeof retentionRule>[1]): Partial<Record<RetainedStream, number>> {
  const out: Partial<Record<RetainedStream, number>> = {}
  for (const stream of RETAINED_STREAMS) {
    const name = `RETENTION_${stream}` as const
    const text = e[name]
    if (text === undefined) continue
    const ms = parseDuration(text)!
    const rule = retentionRule(stream, inputs)
    if ('refused' in rule) wrong.push(wrongValue(name, text, 'nothing: leave it unset', rule.refused))
    else if (ms < rule.minMs) wrong.push(wrongValue(name, text, `a duration of at least ${formatDuration(rule.minMs)}`, rule.why))
    else out[stream] = ms
  }
  return out
}

/**
 * The longest the notification service keeps trying one notification: its attempts, each up
 * to NOTIFY's ack wait (60 s, or WORKER_ACK_WAIT), with the default policy's backoff between.
 */
function notifyLifeOf (attempts: number, firstBackoffMs: number, ackWaitMs: number | undefined): number {
  const { backoffMs } = defaultRetry(attempts, firstBackoffMs)
  return attempts * (ackWaitMs ?? 60_000) + backoffMs.reduce((a, b) => a + b, 0)
}

/** loadConfig for a command (the server, the scripts): a wrong value ends the process with its lines, no stack trace. */
export function loadConfigOrExit (env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`jetway: ${err.message}`)
    process.exit(1)
  }
}

/**
 * The variable behind a failure to start, as one wrongValue line: the HTTP port taken or
 * privileged, HOST not an address of this machine, the embedded nats-server's port taken, no
 * NATS server at NATS_URL. Undefined when the failure is not about a variable.
 */
export function startFailure (err: unknown, config: Config, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const e = err as NodeJS.ErrnoException & { hostname?: string }
  const given = (name: string): string | undefined => env[name] === '' ? undefined : env[name]
  // an unset variable failed by its default: say so
  const byDefault = (name: string): string => given(name) === undefined ? ' (the default)' : ''
  if (e.syscall === 'listen' && e.code === 'EADDRINUSE') {
    return wrongValue('PORT', given('PORT'), 'a port no other process listens on (0: any free port)', `${config.host}:${config.port}${byDefault('PORT')} is in use`)
  }
  if (e.syscall === 'listen' && e.code === 'EACCES') {
    return wrongValue('PORT', given('PORT'), 'a port from 1024 to 65535, or a lower one with the privilege to bind it (0: any free port)', `binding ${config.host}:${config.port} needs a privilege this process lacks`)
  }
  if (e.syscall === 'listen' && e.code === 'EADDRNOTAVAIL') {
    return wrongValue('HOST', given('HOST'), variableOf('HOST')!.takes, `${config.host}${byDefault('HOST')} is not an address of this machine`)
  }
  if (e.syscall === 'getaddrinfo') {
    return wrongValue('HOST', given('HOST'), variableOf('HOST')!.takes, `${config.host} does not resolve (${e.code ?? 'getaddrinfo'})`)
  }
  const message = e instanceof Error ? e.message : String(e)
  if (config.natsUrl === undefined && /address already in use/.test(message)) {
    return wrongValue('NATS_PORT', given('NATS_PORT'), 'a port no other process listens on, for the embedded nats-server (or set NATS_URL to use a running one)',
      `127.0.0.1:${config.natsPort}${byDefault('NATS_PORT')} is in use`)
  }
  if (config.natsUrl !== undefined && /connection refused|CONNECTION_REFUSED|ECONNREFUSED/i.test(`${message} ${e.code ?? ''}`)) {
    return wrongValue('NATS_URL', config.natsUrl, 'URLs of running NATS servers (unset: Jetway starts its own)', 'no NATS server answers there')
  }
  return undefined
}

/** COLLECT_WRITE_KEYS (checked by its schema): the keys, each once. */
function writeKeysOf (text: string | undefined): string[] {
  return text === undefined ? [] : [...new Set(text.split(',').map(k => k.trim()))]
}

/** TRUST_PROXY (checked by its schema) as Fastify's trustProxy takes it. */
function trustProxyOf (text: string | undefined): boolean | number | string {
  const value = (text ?? 'false').trim()
  if (value === 'true' || value === 'false') return value === 'true'
  if (/^\d+$/.test(value)) return Number(value)
  return value.split(',').map(a => a.trim()).join(',')
}
