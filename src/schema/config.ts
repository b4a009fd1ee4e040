import { Type, type Static } from '@sinclair/typebox'

// The environment Jetway reads, as strings; src/config.ts turns them into a typed Config.
export const Roles = ['api', 'projections', 'workers'] as const

const DURATION = '^\\d+(\\.\\d+)?(ms|s|m|h|d)?$'

export const Env = Type.Object({
  NODE_ENV: Type.Optional(Type.String()),
  PORT: Type.Optional(Type.String({ pattern: '^\\d{1,5}$', description: 'HTTP port (0 = any free port)' })),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  NATS_URL: Type.Optional(Type.String({ pattern: '^(nats|tls|ws|wss)://', description: 'comma-separated nats:// URLs' })),
  NATS_PORT: Type.Optional(Type.String({ pattern: '^\\d{1,5}$', description: 'port of the embedded nats-server' })),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  // checked in src/config.ts, whose message does not echo the password
  READ_MODEL_URL: Type.Optional(Type.String({ description: 'postgres://user:password@host:5432/db: the read models in PostgreSQL, shared by a fleet (unset: SQLite in DATA_DIR)' })),
  PROJECTION_TAKEOVER: Type.Optional(Type.String({ pattern: DURATION, description: 'with READ_MODEL_URL: how long a projection whose holder died waits at most before another instance takes it over' })),
  ROLES: Type.Optional(Type.String({ pattern: '^\\s*(api|projections|workers)(\\s*,\\s*(api|projections|workers))*\\s*$' })),
  PROJECTIONS_THREAD: Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('off')], { description: 'on: the projections and the timer ticker run in a worker thread of their own' })),
  READ_THREADS: Type.Optional(Type.String({ pattern: '^\\d{1,2}$', description: 'threads that run searches (0: on the HTTP thread)' })),
  AUTH_MODE: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('jwt')])),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ pattern: '^\\s*[^,\\s]+(\\s*,\\s*[^,\\s]+)*\\s*$', description: 'accepted aud values, comma-separated' })),
  LOG_LEVEL: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)))),
  STREAM_REPLICAS: Type.Optional(Type.String({ pattern: '^[1-5]$' })),
  STREAM_STORAGE: Type.Optional(Type.Union([Type.Literal('file'), Type.Literal('memory')])),
  DUPLICATE_WINDOW: Type.Optional(Type.String({ pattern: DURATION })),
  BODY_LIMIT: Type.Optional(Type.String({ pattern: '^\\d+$' })),
  READ_WAIT: Type.Optional(Type.String({ pattern: DURATION })),
  JOB_TIMEOUT: Type.Optional(Type.String({ pattern: DURATION })),
  JOB_SIMULATOR: Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('off')])),
  INTAKE_KEY: Type.Optional(Type.String({ minLength: 8 })),
  INTAKE_AUTH: Type.Optional(Type.Literal('token', { description: 'jwt mode without INTAKE_KEY: intake by service tokens only, on purpose' })),
  SSE_HEARTBEAT: Type.Optional(Type.String({ pattern: DURATION })),
  SSE_MAX_CONNECTIONS: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,6}$', description: 'open SSE responses per process' })),
  SSE_MAX_PER_USER: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,6}$', description: 'open SSE responses per user per process' })),
  SSE_MAX_BUFFER: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,9}$', description: 'bytes a slow SSE client may fall behind before it is dropped' })),
  READY_MAX_LAG: Type.Optional(Type.String({ pattern: '^\\d{1,9}$', description: 'stream messages a read model may lag while /readyz answers 200' })),
  WORKER_MAX_DELIVER: Type.Optional(Type.String({ pattern: '^[1-9]\\d{0,2}$' })),
  WORKER_BACKOFF: Type.Optional(Type.String({ pattern: DURATION })),
  WORKER_ACK_WAIT: Type.Optional(Type.String({ pattern: DURATION, description: "ack_wait of every worker consumer, instead of streams/*.consumers.json's: how long a killed instance's unacknowledged message waits before another instance gets it; a fleet must share it" })),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3 })),
  REMINDER_LEAD: Type.Optional(Type.String({ pattern: DURATION })),
  TIMER_TICK: Type.Optional(Type.String({ pattern: DURATION, description: 'how often each instance looks for due timers' })),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  RELAY_ALLOW: Type.Optional(Type.String({ description: 'comma-separated CIDRs, IPs or host names (*.domain) outbound calls may reach although private' })),
  OUTBOUND_TIMEOUT: Type.Optional(Type.String({ pattern: DURATION, description: 'total timeout of one outbound HTTP call' })),
  OUTBOUND_MAX_BODY: Type.Optional(Type.String({ pattern: '^[1-9]\\d*$', description: 'largest outbound response body, bytes' })),
  RELAY_RETRY: Type.Optional(Type.String({ pattern: '^\\d{1,2}$', description: 'default retries of an /async request or trigger delivery after its first attempt' })),
  RELAY_BACKOFF_POLICY: Type.Optional(Type.Union([Type.Literal('linear'), Type.Literal('exponential')])),
  RELAY_BACKOFF_DELAY: Type.Optional(Type.String({ pattern: DURATION, description: 'default backoff delay (Knative backoffDelay)' })),
  RELAY_MAX_RETRY_AFTER: Type.Optional(Type.String({ pattern: DURATION, description: "cap on a peer's Retry-After" })),
  RELAY_MAX_STORED_BODY: Type.Optional(Type.String({ pattern: '^\\d+$', description: 'bytes of a response body kept in RELAY events (callbacks carry this much)' })),
  RELAY_LEASE_TTL: Type.Optional(Type.String({ pattern: DURATION, description: "how long a trigger's dispatcher lease lasts unless renewed" })),
  // checked in src/config.ts, whose message does not echo the secret
  WEBHOOK_SECRET: Type.Optional(Type.String({ description: 'Standard Webhooks key: whsec_ and the base64 of at least 24 bytes' })),
  // checked in src/config.ts (at least 32 characters), whose message does not echo the secret
  TASK_TOKEN_SECRET: Type.Optional(Type.String({ description: 'HMAC secret of task and approval tokens; a fleet must share it' })),
  TASK_TIMEOUT: Type.Optional(Type.String({ pattern: DURATION, description: 'timeout of a task that names no timeoutSeconds' })),
  SCHEDULE_GRACE: Type.Optional(Type.String({ pattern: DURATION, description: 'a schedule tick found later than this is skipped' })),
  RATE_LIMIT: Type.Optional(Type.String({ pattern: '^(off|\\d{1,9})$', description: 'requests per RATE_LIMIT_WINDOW per user (jwt) or IP; 0 or off: no limit' })),
  RATE_LIMIT_WINDOW: Type.Optional(Type.String({ pattern: DURATION, description: 'the window RATE_LIMIT counts in' })),
  TRUST_PROXY: Type.Optional(Type.String({
    pattern: '^\\s*(true|false|\\d{1,2}|[0-9A-Za-z.:/]+(\\s*,\\s*[0-9A-Za-z.:/]+)*)\\s*$',
    description: 'which proxies in front may set X-Forwarded-For: true, a hop count, or IPs/CIDRs (loopback, uniquelocal …); default none'
  })),
  CORS_ORIGINS: Type.Optional(Type.String({
    pattern: '^\\s*(\\*|https?://[^\\s,/]+(\\s*,\\s*https?://[^\\s,/]+)*)\\s*$',
    description: 'browser origins (scheme://host[:port], comma-separated) allowed to call the API cross-origin, or *'
  })),
  HSTS_MAX_AGE: Type.Optional(Type.String({ pattern: DURATION, description: 'send Strict-Transport-Security with this max-age (only behind HTTPS)' }))
})
export type Env = Static<typeof Env>
