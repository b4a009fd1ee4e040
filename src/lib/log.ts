import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { pino, type DestinationStream, type Logger } from 'pino'

// What reaches the logs. Secrets never do: credentials in headers are censored wherever a log
// line carries headers, and secret query values (?access_token= for EventSource clients,
// ?key= for intake webhooks) are masked in every URL a log line or a problem body shows.

export const REDACTED = 'REDACTED'

/** Query parameters whose values are credentials. */
const SECRET_PARAMS = new Set(['access_token', 'key', 'token', 'id_token', 'refresh_token', 'client_secret', 'api_key', 'apikey', 'password'])

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-intake-key']
const REDACT_PATHS = ['req', 'res', 'request', 'reply', 'response'].flatMap(at =>
  SECRET_HEADERS.map(h => `${at}.headers["${h}"]`)).concat(SECRET_HEADERS.map(h => `headers["${h}"]`))

function decodeName (name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/**
 * The URL with the value of every secret query parameter masked: `/noti/events?key=s3cret&x=1`
 * becomes `/noti/events?key=REDACTED&x=1`. Names are compared decoded (`acc%65ss_token` is what
 * the query parser reads as `access_token`) and in any case.
 */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = url.slice(q + 1).split('&').map(param => {
    const eq = param.indexOf('=')
    const name = eq === -1 ? param : param.slice(0, eq)
    return SECRET_PARAMS.has(decodeName(name).toLowerCase()) ? `${name}=${REDACTED}` : param
  })
  return `${url.slice(0, q)}?${params.join('&')}`
}

interface LoggedRequest {
  method?: string
  url?: string
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/** Fastify's request serializer, with the URL redacted. */
function serializeRequest (req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort
  }
}

export interface LogOptions {
  level: string
  /** fields on every line; default none */
  base?: Record<string, unknown>
  /** default stdout */
  destination?: DestinationStream
}

/** The one way Jetway makes a logger (the service, its tests and scripts). */
export function createLogger (opts: LogOptions): Logger {
  return pino({
    level: opts.level,
    base: opts.base ?? null,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest, err: pino.stdSerializers.err }
  }, opts.destination)
}

const CLIENT_REQUEST_ID = /^[\x21-\x7E]{1,128}$/

/**
 * The request id: a client's `x-request-id` when it is 1 to 128 printable ASCII characters
 * without spaces (it is echoed in a response header and written on every log line), else a
 * new UUID.
 */
export function requestIdOf (req: { headers: IncomingHttpHeaders }): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID()
}
