import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { Env, Roles } from './schema/config.js'
import { parseDuration } from './lib/duration.js'

export type Role = typeof Roles[number]

export interface Config {
  production: boolean
  port: number
  host: string
  /** undefined: start the embedded nats-server child */
  natsUrl: string | undefined
  natsPort: number
  dataDir: string
  dbFile: string
  roles: Set<Role>
  auth: { mode: 'off' } | { mode: 'jwt', secret?: string, jwksUrl?: string, issuer?: string }
  logLevel: string
  stream: { replicas: number, storage: 'file' | 'memory', duplicateWindowMs: number }
  bodyLimit: number
  readWaitMs: number
  jobs: { timeoutMs: number, simulator: boolean, intakeKey: string | undefined }
  sseHeartbeatMs: number
  sse: { maxConnections: number, maxPerUser: number, maxBufferedBytes: number }
  /** stream messages a read model may lag while /readyz answers 200 */
  readyMaxLag: number
  workers: { maxDeliver: number, backoffMs: number }
  mail: { smtpUrl: string | undefined, from: string }
  reminderLeadMs: number
  /** base of links in emails */
  publicUrl: string
}

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
  const dataDir = resolve(e.DATA_DIR ?? './data')
  return {
    production,
    port: Number(e.PORT ?? 3000),
    host: e.HOST ?? '127.0.0.1',
    natsUrl: e.NATS_URL,
    natsPort: Number(e.NATS_PORT ?? 4222),
    dataDir,
    dbFile: resolve(dataDir, 'jetway.db'),
    roles: new Set((e.ROLES ?? 'api,projections,workers').split(',').map(r => r.trim() as Role)),
    auth: authMode === 'off'
      ? { mode: 'off' }
      : { mode: 'jwt', secret: e.JWT_SECRET, jwksUrl: e.JWT_JWKS_URL, issuer: e.JWT_ISSUER },
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
      backoffMs: parseDuration(e.WORKER_BACKOFF ?? '1s')!
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? 'Jetway <jetway@localhost>' },
    reminderLeadMs: parseDuration(e.REMINDER_LEAD ?? '30m')!,
    publicUrl: (e.PUBLIC_URL ?? `http://${e.HOST ?? '127.0.0.1'}:${e.PORT ?? 3000}`).replace(/\/$/, '')
  }
}
