import { Kind, Type, TypeRegistry, type Static, type TLiteral, type TOptional, type TSchema, type TUnion } from '@sinclair/typebox'
import ipaddr from 'ipaddr.js'
import { parseDuration } from '../lib/duration.js'
import { AllowListError, parseAllowList } from '../lib/ssrf.js'
import { isWebhookSecret, webhookKeyBytes } from '../lib/webhooks.js'
import { RETAINED_STREAMS, type RetainedStream } from '../store/retention.js'

// The environment Jetway reads, as strings; src/config.ts turns them into a typed Config.
//
// One line per variable. Its schema checks the value and says in words what it takes
// (`takes`); src/config.ts writes every error from these, one sentence per wrong value:
//   PORT=99999: takes a port number from 0 to 65535 (0: any free port)
//   JWT_SECRET=(5 characters, not shown): takes an HS256 secret of at least 16 characters
// `secret: true` keeps the value out of that sentence (a URL's user and password never show).
// A new variable needs: a line here built with one of the builders below (or any TypeBox schema
// with a `takes`), a row in the wrong-value table of test/config.test.ts, and a row in the
// README's configuration table.

/** What every variable's schema carries besides its check. */
export interface Variable {
  /** what the variable takes, as the end of "NAME=value: takes …" */
  takes: string
  /** never echo the value (keys, secrets) */
  secret?: boolean
  /** a variable built by text(): its check, which may say what is wrong */
  check?: Check
}

export const Roles = ['api', 'projections', 'workers'] as const

/** true: right; false: wrong; a string: wrong, and why (never quoting a secret). */
export type Check = (text: string) => boolean | string

// A variable checked by a function: TypeBox runs it (Value.Check, Value.Errors) like any schema.
const KIND = 'JetwayVariable'
TypeRegistry.Set<{ check: Check }>(KIND, (schema, value) => typeof value === 'string' && schema.check(value) === true)

interface Options { secret?: boolean, description?: string }

/** A string variable that `check` decides. */
function text (takes: string, check: Check, options: Options = {}) {
  return Type.Unsafe<string>({ [Kind]: KIND, type: 'string', takes, check, ...options })
}

/** One of a few words. */
function oneOf<const T extends readonly string[]> (values: T, options: Options & { note?: string } = {}): TUnion<Literals<T>> {
  const { note, ...rest } = options
  const words = values.length === 1 ? values[0]! : `${values.slice(0, -1).join(', ')} or ${values.at(-1)!}`
  return Type.Union(values.map(v => Type.Literal(v)), { takes: `${words}${note === undefined ? '' : ` (${note})`}`, ...rest }) as unknown as TUnion<Literals<T>>
}
type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K] & string> }

/** A whole number from min to max (digits only). */
function whole (min: number, max: number, options: Options & { what?: string, note?: string } = {}) {
  const { what = 'a whole number', note, ...rest } = options
  return text(`${what} from ${min} to ${max}${note === undefined ? '' : ` (${note})`}`,
    t => /^\d{1,16}$/.test(t) && Number(t) >= min && Number(t) <= max, rest)
}

/** A port number; 0 asks the system for any free port. */
function port (note: string, options: Options = {}) {
  return whole(0, 65535, { what: 'a port number', note, ...options })
}

// setTimeout waits at most 2^31 - 1 ms (24.8 days), and fires at once when asked for longer:
// a duration that drives an in-process timer stops there. Others stop at ten years, where a
// deadline is still a date.
const TIMER_MAX = '24d'
const DURATION_MAX = '3650d'

/** A duration as src/lib/duration.ts reads it (500ms, 15s, 2m, 24h, 1d), from min to max. */
function duration (options: Options & { min?: string, max?: string } = {}) {
  const { min = '0ms', max = DURATION_MAX, ...rest } = options
  const [low, high] = [parseDuration(min)!, parseDuration(max)!]
  return text(`a duration (500ms, 15s, 2m, 24h, 1d) from ${min} to ${max}`, t => {
    const ms = parseDuration(t)
    return ms !== undefined && ms >= low && ms <= high
  }, rest)
}

/** A URL of one of these schemes, with a host; `list`: several, comma-separated (a missing scheme is the first one's). */
function url (schemes: readonly string[], takes: string, options: Options & { list?: boolean } = {}) {
  const { list = false, ...rest } = options
  return text(takes, t => {
    const entries = list ? t.split(',').map(e => e.trim()) : [t]
    return entries.every(entry => {
      try {
        const u = new URL(list && !entry.includes('://') ? `${schemes[0]!}://${entry}` : entry)
        return schemes.includes(u.protocol.slice(0, -1)) && u.hostname !== ''
      } catch {
        return false
      }
    })
  }, rest)
}

/** Comma-separated entries, each passing `entry`; spaces around them are dropped. */
const everyOf = (entry: (e: string) => boolean | string): Check => t => {
  for (const e of t.split(',').map(e => e.trim())) {
    const verdict = entry(e)
    if (verdict !== true) return verdict
  }
  return true
}

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i
/** TRUST_PROXY's proxy-addr names of address ranges. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']
const WRITE_KEY = /^[\x21-\x2B\x2D-\x39\x3B-\x7E]{8,256}$/

export const Env = Type.Object({
  NODE_ENV: Type.Optional(oneOf(['production', 'development', 'test'], { note: 'only production changes anything' })),
  PORT: Type.Optional(port('0: any free port', { description: 'HTTP port' })),
  HOST: Type.Optional(text('an IP address or a host name of this machine (0.0.0.0: every interface)', t => ipaddr.isValid(t) || HOST_NAME.test(t))),
  NATS_URL: Type.Optional(url(['nats', 'tls', 'ws', 'wss'], 'nats://host:port URLs (or tls://, ws://, wss://), comma-separated', { list: true })),
  NATS_PORT: Type.Optional(whole(1, 65535, { what: 'a port number', description: 'port of the embedded nats-server' })),
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  DATA_DIR: Type.Optional(text('a directory path, without control characters', t => !/[\x00-\x1F\x7F]/.test(t))),
  READ_MODEL_URL: Type.Optional(url(['postgres', 'postgresql'], 'postgres://user:password@host:5432/database (unset: SQLite in DATA_DIR)', { description: 'the read models in PostgreSQL, shared by a fleet' })),
  PROJECTION_TAKEOVER: Type.Optional(duration({ min: '1s', max: TIMER_MAX, description: 'with READ_MODEL_URL: how long a projection whose holder died waits at most before another instance takes it over' })),
  NATS_SYNC: Type.Optional(Type.Union([Type.Literal('always'), Type.Literal('default'), duration({ min: '1ms' })], {
    takes: `always (each write fsynced before its ack; nats-server 2.10+), default (every 2m), or a duration from 1ms to ${DURATION_MAX} (5s)`,
    description: 'fsync of the embedded nats-server; unset: always where the server has it'
  })),
  ROLES: Type.Optional(text('roles among api, projections, workers, comma-separated', everyOf(r => (Roles as readonly string[]).includes(r) || `${JSON.stringify(r)} is not a role`))),
  PROJECTIONS_THREAD: Type.Optional(oneOf(['on', 'off'], { description: 'on: the projections and the timer ticker run in a worker thread of their own' })),
  READ_THREADS: Type.Optional(whole(0, 99, { note: '0: searches run on the HTTP thread' })),
  AUTH_MODE: Type.Optional(oneOf(['off', 'jwt'])),
  JWT_SECRET: Type.Optional(text('an HS256 secret of at least 16 characters', t => t.length >= 16, { secret: true })),
  JWT_JWKS_URL: Type.Optional(url(['http', 'https'], 'an http:// or https:// URL of a JWKS')),
  JWT_ISSUER: Type.Optional(text('the iss value tokens must carry, without spaces around it', t => t === t.trim())),
  JWT_AUDIENCE: Type.Optional(text('aud values, comma-separated, without spaces inside one', everyOf(a => /^[^\s,]+$/.test(a)), { description: 'accepted aud values' })),
  LOG_LEVEL: Type.Optional(oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  STREAM_REPLICAS: Type.Optional(whole(1, 5)),
  STREAM_STORAGE: Type.Optional(oneOf(['file', 'memory'])),
  DUPLICATE_WINDOW: Type.Optional(duration({ min: '1ms' })),
  BODY_LIMIT: Type.Optional(whole(1, 1073741824, { note: 'bytes, at most 1 GiB' })),
  READ_WAIT: Type.Optional(duration({ max: TIMER_MAX })),
  REQUEST_TIMEOUT: Type.Optional(duration({ min: '1s', max: TIMER_MAX, description: 'longest a request may take to arrive, headers and body (an SSE response is not bounded by it)' })),
  JOB_TIMEOUT: Type.Optional(duration({ min: '1s' })),
  JOB_SIMULATOR: Type.Optional(oneOf(['on', 'off'])),
  INTAKE_KEY: Type.Optional(text('a key of at least 8 characters', t => t.length >= 8, { secret: true })),
  COLLECT_WRITE_KEYS: Type.Optional(text('write keys, comma-separated, each 8 to 256 printable ASCII characters without spaces, commas or colons', t => {
    const keys = t.split(',').map(k => k.trim())
    const bad = keys.findIndex(k => !WRITE_KEY.test(k))
    return bad === -1 || `key ${bad + 1} of ${keys.length} is not such a key`
  }, { secret: true, description: 'write keys the analytics SDK routes (/v1/*) take' })),
  INTAKE_AUTH: Type.Optional(oneOf(['token'], { note: 'in jwt mode without INTAKE_KEY: intake by service tokens only, on purpose' })),
  SSE_HEARTBEAT: Type.Optional(duration({ min: '10ms', max: TIMER_MAX })),
  SSE_MAX_CONNECTIONS: Type.Optional(whole(1, 9_999_999, { description: 'open SSE responses per process' })),
  SSE_MAX_PER_USER: Type.Optional(whole(1, 9_999_999, { description: 'open SSE responses per user per process' })),
  SSE_MAX_BUFFER: Type.Optional(whole(1, 9_999_999_999, { note: 'bytes' })),
  READY_MAX_LAG: Type.Optional(whole(0, 999_999_999, { note: 'stream messages' })),
  WORKER_MAX_DELIVER: Type.Optional(whole(1, 999)),
  WORKER_BACKOFF: Type.Optional(duration({ min: '1ms' })),
  // the runner keeps a long effect's message with working() every third of ack_wait, at most every 500 ms
  WORKER_ACK_WAIT: Type.Optional(duration({ min: '1.5s', max: TIMER_MAX, description: "ack_wait of every worker consumer, instead of streams/*.consumers.json's; a fleet must share it" })),
  SMTP_URL: Type.Optional(url(['smtp', 'smtps'], 'an smtp:// or smtps:// URL (smtp://user:pass@host:587)')),
  MAIL_FROM: Type.Optional(text('an email address, with a name or without (Jetway <jetway@example.com>)', t => /^([^<>\r\n]*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/.test(t))),
  REMINDER_LEAD: Type.Optional(duration()),
  TIMER_TICK: Type.Optional(duration({ min: '10ms', max: TIMER_MAX, description: 'how often each instance looks for due timers' })),
  PUBLIC_URL: Type.Optional(url(['http', 'https'], 'an http:// or https:// URL (the base of links in emails)')),
  RELAY_ALLOW: Type.Optional(text('CIDRs, IP addresses or host names (*.domain for subdomains), comma-separated', t => {
    try {
      parseAllowList(t.split(','))
      return true
    } catch (err) {
      if (err instanceof AllowListError) return err.message
      throw err
    }
  })),
  OUTBOUND_TIMEOUT: Type.Optional(duration({ min: '1ms', max: TIMER_MAX })),
  OUTBOUND_MAX_BODY: Type.Optional(whole(1, 1073741824, { note: 'bytes, at most 1 GiB' })),
  RELAY_RETRY: Type.Optional(whole(0, 99, { note: 'retries after the first attempt' })),
  RELAY_BACKOFF_POLICY: Type.Optional(oneOf(['linear', 'exponential'])),
  RELAY_BACKOFF_DELAY: Type.Optional(duration()),
  RELAY_MAX_RETRY_AFTER: Type.Optional(duration()),
  RELAY_MAX_STORED_BODY: Type.Optional(whole(0, 524288, { note: 'bytes, at most 512 KiB' })),
  RELAY_LEASE_TTL: Type.Optional(duration({ min: '1s', max: TIMER_MAX })),
  WEBHOOK_SECRET: Type.Optional(text('whsec_ followed by the base64 of at least 24 random bytes', t => isWebhookSecret(t) && webhookKeyBytes(t) >= 24, { secret: true })),
  TASK_TOKEN_SECRET: Type.Optional(text('at least 32 characters (openssl rand -base64 32)', t => t.length >= 32, { secret: true, description: 'a fleet must share it' })),
  TASK_TIMEOUT: Type.Optional(duration({ min: '1s' })),
  // a schedule tick found later than this is skipped: under a second every late tick would be
  SCHEDULE_GRACE: Type.Optional(duration({ min: '1s' })),
  TASK_CALLBACK_RETRY: Type.Optional(whole(0, 99, { note: 'retries after the first attempt' })),
  TASK_CALLBACK_BACKOFF_POLICY: Type.Optional(oneOf(['linear', 'exponential'])),
  TASK_CALLBACK_BACKOFF_DELAY: Type.Optional(duration()),
  TASK_CALLBACK_MAX_RETRY_AFTER: Type.Optional(duration()),
  RATE_LIMIT: Type.Optional(Type.Union([Type.Literal('off'), whole(0, 999_999_999)], { takes: 'off, or requests per RATE_LIMIT_WINDOW from 0 to 999999999 (0: off)' })),
  RATE_LIMIT_WINDOW: Type.Optional(duration({ min: '1s', max: TIMER_MAX })),
  TRUST_PROXY: Type.Optional(text(`true, a hop count from 0 to 99, or IP addresses, CIDRs and ${PROXY_RANGES.join(', ')}, comma-separated`, t => {
    const value = t.trim()
    if (value === 'true' || value === 'false' || /^\d{1,2}$/.test(value)) return true
    return everyOf(e => PROXY_RANGES.includes(e) || ipaddr.isValid(e) || ipaddr.isValidCIDR(e) || `${JSON.stringify(e)} is not an IP address, a CIDR or a range name`)(value)
  })),
  CORS_ORIGINS: Type.Optional(text('origins (scheme://host[:port]), comma-separated, or *', t => /^\s*(\*|https?:\/\/[^\s,/]+(\s*,\s*https?:\/\/[^\s,/]+)*)\s*$/.test(t))),
  HSTS_MAX_AGE: Type.Optional(duration({ description: 'send Strict-Transport-Security with this max-age (only behind HTTPS)' })),
  // data lifecycle (README, Data lifecycle): each stream's max_age, checked in src/config.ts against src/store/retention.ts
  ...Object.fromEntries(RETAINED_STREAMS.map(s => [`RETENTION_${s}`, Type.Optional(duration({ min: '1s', description: `max_age of stream ${s}; unset: kept forever` }))])) as Record<`RETENTION_${RetainedStream}`, TOptional<ReturnType<typeof duration>>>,
  KEEP_FINISHED: Type.Optional(duration({ min: '1s', description: 'remove a finished job, task, relay request or past meeting from its stream and the read models this long after it finished; unset: kept' })),
  ERASURE_KEY: Type.Optional(text('at least 32 characters (openssl rand -base64 32)', t => t.length >= 32, { secret: true, description: 'HMAC key of the user keys erasures record; a fleet must share it; unset: a key made once and kept in stream ERASURES' }))
})
export type Env = Static<typeof Env>

/** A variable's schema with what it takes. */
export function variableOf (name: string): (TSchema & Variable) | undefined {
  return (Env.properties as unknown as Record<string, TSchema & Variable>)[name]
}
