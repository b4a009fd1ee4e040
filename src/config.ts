import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { Env, Roles } from './schema/config.js'
import { parseDuration } from './lib/duration.js'
import { parseAllowList, type AllowListError } from './lib/ssrf.js'
import { isWebhookSecret, webhookKeyBytes } from './lib/webhooks.js'
import ipaddr from 'ipaddr.js'

export type Role = typeof Roles[number]

export interface Config {
  production: boolean
  port: number
  host: string
  /** undefined: start the embedded nats-server child */
  natsUrl: string | undefined
  natsPort: number
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
  readWaitMs: number
  jobs: { timeoutMs: number, simulator: boolean, intakeKey: string | undefined }
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
  tasks: { tokenSecret: string | undefined, timeoutMs: number, scheduleGraceMs: number }
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
}

/** Whether a read-model location is a PostgreSQL URL (else it is a SQLite file path). */
export function isPostgresUrl (location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location)
}

/** Requests per minute per user or IP when NODE_ENV=production and RATE_LIMIT is unset. */
export const PRODUCTION_RATE_LIMIT = 6000

/** TRUST_PROXY's proxy-addr names of address ranges. */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

export class ConfigError extends Error {
  readonly code = 'JETWAY_CONFIG'
  override name = 'ConfigError'
}

/** Reads the environment; throws ConfigError naming the variable on a wrong value. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string> = {}
  for (const key of Object.keys(Env.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') picked[key] = value
  }
  const errors = [...Value.Errors(Env, picked)]
  if (errors.length > 0) {
    const lines = errors.map(e => `${e.path.slice(1)}=${JSON.stringify(picked[e.path.slice(1)])}: ${e.message}`)
    throw new ConfigError(`invalid configuration:\n  ${[...new Set(lines)].join('\n  ')}`)
  }
  const e = picked as Env
  const production = e.NODE_ENV === 'production'
  const authMode = e.AUTH_MODE ?? 'off'
  if (production && e.AUTH_MODE === undefined) {
    throw new ConfigError('AUTH_MODE must be set in production: use AUTH_MODE=jwt, or AUTH_MODE=off to run without auth on purpose')
  }
  if (authMode === 'jwt' && e.JWT_SECRET === undefined && e.JWT_JWKS_URL === undefined) {
    throw new ConfigError('AUTH_MODE=jwt needs JWT_SECRET (HS256) or JWT_JWKS_URL')
  }
  const allow = (e.RELAY_ALLOW ?? '').split(',').map(a => a.trim()).filter(a => a !== '')
  try {
    parseAllowList(allow)
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  RELAY_ALLOW: ${(err as AllowListError).message}`)
  }
  const outboundTimeoutMs = parseDuration(e.OUTBOUND_TIMEOUT ?? '30s')!
  if (outboundTimeoutMs <= 0) throw new ConfigError('invalid configuration:\n  OUTBOUND_TIMEOUT must be more than 0')
  // the runner keeps a long effect's message with working() every third of ack_wait, at most every 500 ms
  if (e.WORKER_ACK_WAIT !== undefined && parseDuration(e.WORKER_ACK_WAIT)! < 1500) throw new ConfigError('invalid configuration:\n  WORKER_ACK_WAIT must be at least 1.5s')
  if (e.WEBHOOK_SECRET !== undefined && (!isWebhookSecret(e.WEBHOOK_SECRET) || webhookKeyBytes(e.WEBHOOK_SECRET) < 24)) {
    throw new ConfigError('invalid configuration:\n  WEBHOOK_SECRET: expected whsec_ followed by the base64 of at least 24 random bytes')
  }
  if (e.TASK_TOKEN_SECRET !== undefined && e.TASK_TOKEN_SECRET.length < 32) {
    throw new ConfigError('invalid configuration:\n  TASK_TOKEN_SECRET: expected at least 32 characters (e.g. openssl rand -base64 32)')
  }
  // The completion intake sets the outcome of anyone's job: in jwt mode it takes INTAKE_KEY or
  // a token with role service/admin. Production wants the key, or says it means token-only.
  if (e.INTAKE_AUTH === 'token' && (authMode !== 'jwt' || e.INTAKE_KEY !== undefined)) {
    throw new ConfigError('INTAKE_AUTH=token (intake by service tokens only) needs AUTH_MODE=jwt and no INTAKE_KEY')
  }
  if (production && authMode === 'jwt' && e.INTAKE_KEY === undefined && e.INTAKE_AUTH === undefined) {
    throw new ConfigError('AUTH_MODE=jwt in production needs INTAKE_KEY for the completion intake, or INTAKE_AUTH=token to accept only tokens with role service or admin there')
  }
  const dataDir = resolve(e.DATA_DIR ?? './data')
  if (e.READ_MODEL_URL !== undefined && !isPostgresUrl(e.READ_MODEL_URL)) {
    throw new ConfigError('invalid configuration:\n  READ_MODEL_URL: expected postgres://user:password@host:5432/database')
  }
  const takeoverMs = parseDuration(e.PROJECTION_TAKEOVER ?? '5s')!
  if (takeoverMs < 1000) throw new ConfigError('invalid configuration:\n  PROJECTION_TAKEOVER must be at least 1s')
  const rateWindowMs = parseDuration(e.RATE_LIMIT_WINDOW ?? '1m')!
  if (rateWindowMs < 1000) throw new ConfigError('invalid configuration:\n  RATE_LIMIT_WINDOW must be at least 1s')
  const rateMax = e.RATE_LIMIT === undefined ? (production ? PRODUCTION_RATE_LIMIT : 0) : e.RATE_LIMIT === 'off' ? 0 : Number(e.RATE_LIMIT)
  return {
    production,
    port: Number(e.PORT ?? 3000),
    host: e.HOST ?? '127.0.0.1',
    natsUrl: e.NATS_URL,
    natsPort: Number(e.NATS_PORT ?? 4222),
    dataDir,
    dbFile: resolve(dataDir, 'jetway.db'),
    readModelUrl: e.READ_MODEL_URL,
    projectionTakeoverMs: takeoverMs,
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
    readWaitMs: parseDuration(e.READ_WAIT ?? '5s')!,
    jobs: {
      timeoutMs: parseDuration(e.JOB_TIMEOUT ?? '24h')!,
      // the demo completes jobs by itself only where nobody else will: `npm start` alone
      simulator: (e.JOB_SIMULATOR ?? (e.NATS_URL === undefined ? 'on' : 'off')) === 'on',
      intakeKey: e.INTAKE_KEY
    },
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
      scheduleGraceMs: parseDuration(e.SCHEDULE_GRACE ?? '30s')!
    },
    relay: {
      retry: Number(e.RELAY_RETRY ?? 5),
      backoffPolicy: e.RELAY_BACKOFF_POLICY ?? 'exponential',
      backoffDelayMs: parseDuration(e.RELAY_BACKOFF_DELAY ?? '1s')!,
      maxRetryAfterMs: parseDuration(e.RELAY_MAX_RETRY_AFTER ?? '5m')!,
      timeoutMs: outboundTimeoutMs,
      maxStoredBody: Math.min(Number(e.RELAY_MAX_STORED_BODY ?? 256 * 1024), 512 * 1024),
      leaseTtlMs: Math.max(parseDuration(e.RELAY_LEASE_TTL ?? '15s')!, 1000)
    },
    rateLimit: rateMax > 0 ? { max: rateMax, windowMs: rateWindowMs } : undefined,
    trustProxy: trustProxyOf(e.TRUST_PROXY),
    corsOrigins: (e.CORS_ORIGINS ?? '').split(',').map(o => o.trim()).filter(o => o !== ''),
    hstsMaxAgeS: e.HSTS_MAX_AGE === undefined ? undefined : Math.floor(parseDuration(e.HSTS_MAX_AGE)! / 1000)
  }
}

/** TRUST_PROXY as Fastify's trustProxy takes it; a list must name addresses, CIDRs or ranges proxy-addr knows. */
function trustProxyOf (text: string | undefined): boolean | number | string {
  const value = (text ?? 'false').trim()
  if (value === 'true' || value === 'false') return value === 'true'
  if (/^\d+$/.test(value)) return Number(value)
  const entries = value.split(',').map(a => a.trim())
  for (const entry of entries) {
    if (PROXY_RANGES.has(entry)) continue
    const ok = ipaddr.isValid(entry) || ipaddr.isValidCIDR(entry)
    if (!ok) throw new ConfigError(`invalid configuration:\n  TRUST_PROXY: ${JSON.stringify(entry)} is not an IP address, a CIDR, or one of ${[...PROXY_RANGES].join(', ')}`)
  }
  return entries.join(',')
}
