import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import type { Readable } from 'node:stream'
import { Agent, buildConnector } from 'undici'
import { addressPolicy, hostRefusal, type AddressPolicy } from './ssrf.js'
import { isWebhookSecret, signedHeaders } from './webhooks.js'
import { systemClock, type Clock } from './time.js'

// The one HTTP client every outbound call of Jetway goes through: relay calls, callbacks,
// trigger deliveries, task callbacks. One undici Agent (a connection pool per origin), an
// SSRF guard on every address at connect time, no redirects, hop-by-hop headers dropped both
// ways, a body cap, a total timeout, Standard Webhooks signatures, and errors with stable codes.

export const OutboundErrorCodes = {
  /** the target's address is not allowed (SSRF guard); no connection was made */
  refused: 'JETWAY_OUTBOUND_REFUSED',
  /** no complete answer within the timeout (connect, headers and body together) */
  timeout: 'JETWAY_OUTBOUND_TIMEOUT',
  /** DNS failure, connection refused or reset, TLS failure, a broken response */
  unreachable: 'JETWAY_OUTBOUND_UNREACHABLE',
  /** the response body is larger than the cap */
  tooLarge: 'JETWAY_OUTBOUND_TOO_LARGE',
  /** the request itself is wrong (URL, scheme, header value, no webhook secret) */
  invalid: 'JETWAY_OUTBOUND_INVALID',
  /** the caller's signal aborted the call */
  aborted: 'JETWAY_OUTBOUND_ABORTED'
} as const
export type OutboundErrorCode = typeof OutboundErrorCodes[keyof typeof OutboundErrorCodes]

export class OutboundError extends Error {
  override name = 'OutboundError'
  // which codes are worth a retry is the delivery decision's (src/domain/delivery.ts)
  constructor (readonly code: OutboundErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface OutboundOptions {
  /** RELAY_ALLOW entries: CIDRs, IPs or host names (`*.domain` for its subdomains) let through the SSRF guard */
  allow?: readonly string[]
  /** default total timeout of a call; 30 s */
  timeoutMs?: number
  /** response body cap; 10 MiB */
  maxBodyBytes?: number
  /** default Standard Webhooks secret (`whsec_…`) for calls that ask to be signed */
  webhookSecret?: string | undefined
  /** the webhook-timestamp clock */
  clock?: Clock
  /** name resolution (default: the system resolver, dns.lookup); every address it returns is checked */
  resolve?: (hostname: string) => Promise<LookupAddress[]>
  /** sent when the caller sets no user-agent */
  userAgent?: string
}

export type OutboundHeaders = Record<string, string | readonly string[] | undefined>

export interface OutboundRequest {
  method: string
  /** absolute http: or https: URL */
  url: string | URL
  headers?: OutboundHeaders
  body?: string | Buffer | undefined
  /** overrides the client's timeout for this call */
  timeoutMs?: number
  signal?: AbortSignal
  /**
   * Sign with Standard Webhooks headers: `id` stays the same across retries of one delivery;
   * the timestamp is taken at send time; `secret` overrides the client's webhookSecret.
   */
  webhook?: { id: string, secret?: string | undefined }
}

export interface OutboundResponse {
  status: number
  /** lowercase names, hop-by-hop headers removed; repeated headers joined with ', ' */
  headers: Record<string, string>
  body: Buffer
  text: () => string
  json: <T = unknown>() => T
}

export interface Outbound {
  /** resolves with any status (a 3xx is returned, not followed); rejects with OutboundError only */
  request: (req: OutboundRequest) => Promise<OutboundResponse>
  close: () => Promise<void>
}

/**
 * Outbound calls this process made, by outcome: the answer's status class (2xx … 5xx) or the
 * error (timeout, unreachable, refused, too_large, invalid, aborted). For /metrics
 * (jetway_outbound_requests_total): every client of the process counts here.
 */
export const outboundOutcomes = new Map<string, number>()

function countOutcome (outcome: string): void {
  outboundOutcomes.set(outcome, (outboundOutcomes.get(outcome) ?? 0) + 1)
}

export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024

// RFC 9110 §7.6.1 connection-specific fields, plus the obsolete ones still seen in the wild.
// `host` and `content-length` from a caller are dropped too: the client sets them from the URL
// and the body. `expect` is dropped because undici does not do 100-continue.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection'])
const SET_BY_CLIENT = new Set(['host', 'content-length', 'expect'])
export const NOT_ALLOWED = '; outbound calls to it are refused unless RELAY_ALLOW lists it'

export function createOutbound (options: OutboundOptions = {}): Outbound {
  const policy = addressPolicy(options.allow ?? [])
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const clock = options.clock ?? systemClock
  const userAgent = options.userAgent ?? 'Jetway'
  const agent = new Agent({ connect: guardedConnector(policy, options.resolve) })

  async function request (req: OutboundRequest): Promise<OutboundResponse> {
    try {
      const res = await send(req)
      countOutcome(`${Math.floor(res.status / 100)}xx`)
      return res
    } catch (err) {
      countOutcome(err instanceof OutboundError ? err.code.replace('JETWAY_OUTBOUND_', '').toLowerCase() : 'error')
      throw err
    }
  }

  async function send (req: OutboundRequest): Promise<OutboundResponse> {
    const url = targetOf(req.url)
    // Refuse a literal IP before dispatch too, so the error is immediate and no pool is made.
    const refusal = literalRefusal(policy, url.hostname)
    if (refusal !== undefined) throw refusal

    const body = req.body ?? undefined
    const headers = requestHeaders(req.headers ?? {})
    headers['user-agent'] ??= userAgent
    if (req.webhook !== undefined) {
      const secret = req.webhook.secret ?? options.webhookSecret
      if (secret === undefined) throw new OutboundError(OutboundErrorCodes.invalid, 'a signed call needs a webhook secret (WEBHOOK_SECRET)')
      if (!isWebhookSecret(secret)) throw new OutboundError(OutboundErrorCodes.invalid, 'a webhook secret is whsec_ followed by base64')
      Object.assign(headers, signedHeaders(secret, req.webhook.id, clock.now(), body ?? ''))
    }

    const limitMs = req.timeoutMs ?? timeoutMs
    const timer = new AbortController()
    const timeout = setTimeout(() => timer.abort(), limitMs)
    const signal = req.signal === undefined ? timer.signal : AbortSignal.any([timer.signal, req.signal])
    try {
      const res = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method.toUpperCase() as 'GET',
        headers,
        body,
        signal,
        headersTimeout: limitMs,
        bodyTimeout: limitMs
      })
      const declared = Number(res.headers['content-length'])
      if (declared > maxBodyBytes) {
        discard(res.body)
        throw tooLarge(maxBodyBytes)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > maxBodyBytes) {
          discard(res.body)
          throw tooLarge(maxBodyBytes)
        }
        chunks.push(chunk as Buffer)
      }
      return response(res.statusCode, responseHeaders(res.headers), Buffer.concat(chunks, size))
    } catch (err) {
      if (timer.signal.aborted) throw new OutboundError(OutboundErrorCodes.timeout, `${describeTarget(req.method, url)}: no complete answer within ${limitMs} ms`, { cause: err })
      if (req.signal?.aborted === true) throw new OutboundError(OutboundErrorCodes.aborted, `${describeTarget(req.method, url)}: aborted`, { cause: err })
      throw asOutboundError(err, req.method, url)
    } finally {
      clearTimeout(timeout)
    }
  }

  return {
    request,
    close: async () => { await agent.close() }
  }
}

/**
 * undici's connector with the SSRF guard: a literal IP host (which net.connect does not look
 * up) is judged before connecting; a name is judged address by address in the lookup hook.
 */
export function guardedConnector (policy: AddressPolicy, resolve?: (hostname: string) => Promise<LookupAddress[]>): buildConnector.connector {
  const connect = buildConnector({ lookup: guardedLookup(policy, resolve) })
  return (opts, callback) => {
    const refusal = literalRefusal(policy, opts.hostname)
    if (refusal !== undefined) {
      callback(refusal, null)
      return
    }
    connect(opts, callback)
  }
}

/**
 * net.connect's lookup hook: resolve every address, refuse the call if any one of them is not
 * allowed (a rebinding answer cannot mix a private address in), else connect to what resolved.
 */
export function guardedLookup (policy: AddressPolicy, resolve = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(all => {
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family
      const addresses = family === 4 || family === 6 ? all.filter(a => a.family === family) : all
      if (addresses.length === 0) {
        const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`)
        err.code = 'ENOTFOUND'
        callback(err, '')
        return
      }
      for (const { address } of addresses) {
        const verdict = policy.check(address, hostname)
        if (!verdict.allowed) {
          callback(new OutboundError(OutboundErrorCodes.refused, `${hostname}: ${verdict.reason}${NOT_ALLOWED}`), '')
          return
        }
      }
      if (options.all === true) callback(null, addresses)
      else callback(null, addresses[0]!.address, addresses[0]!.family)
    }, (err: NodeJS.ErrnoException) => callback(err, ''))
  }
}

function systemResolve (hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => { if (err !== null) reject(err); else resolve(addresses) })
  })
}

function literalRefusal (policy: AddressPolicy, hostname: string): OutboundError | undefined {
  const reason = hostRefusal(policy, hostname)
  return reason === undefined ? undefined : new OutboundError(OutboundErrorCodes.refused, `${reason}${NOT_ALLOWED}`)
}

function targetOf (input: string | URL): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new OutboundError(OutboundErrorCodes.invalid, `not an absolute URL: ${String(input)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundError(OutboundErrorCodes.invalid, `only http: and https: URLs are called, not ${url.protocol}`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new OutboundError(OutboundErrorCodes.invalid, 'credentials in the URL are not sent; use an Authorization header')
  }
  return url
}

/** The caller's headers, lowercased, without hop-by-hop ones (and those its Connection names). */
export function requestHeaders (input: OutboundHeaders): Record<string, string | string[]> {
  const named = connectionOptions(input.connection ?? input.Connection)
  const out: Record<string, string | string[]> = {}
  for (const [key, value] of Object.entries(input)) {
    const name = key.toLowerCase()
    if (value === undefined || isHopByHop(name) || SET_BY_CLIENT.has(name) || named.has(name)) continue
    out[name] = typeof value === 'string' ? value : [...value]
  }
  return out
}

/** The peer's headers, without hop-by-hop ones; repeated values joined. */
export function responseHeaders (input: Record<string, string | string[] | undefined>): Record<string, string> {
  const named = connectionOptions(input.connection)
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(input)) {
    const name = key.toLowerCase()
    if (value === undefined || isHopByHop(name) || named.has(name)) continue
    out[name] = typeof value === 'string' ? value : value.join(', ')
  }
  return out
}

function isHopByHop (name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-')
}

function connectionOptions (value: string | readonly string[] | undefined): Set<string> {
  if (value === undefined) return new Set()
  const text = typeof value === 'string' ? value : value.join(',')
  return new Set(text.split(',').map(v => v.trim().toLowerCase()).filter(v => v !== ''))
}

function response (status: number, headers: Record<string, string>, body: Buffer): OutboundResponse {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T
  }
}

/** Stops reading a body (closing its connection) without an 'error' event nobody hears. */
function discard (body: Readable): void {
  body.on('error', () => {})
  body.destroy()
}

function tooLarge (max: number): OutboundError {
  return new OutboundError(OutboundErrorCodes.tooLarge, `the response body is larger than ${max} bytes (OUTBOUND_MAX_BODY)`)
}

function describeTarget (method: string, url: URL): string {
  return `${method.toUpperCase()} ${url.origin}${url.pathname}`
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])
const INVALID_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN'])

function asOutboundError (err: unknown, method: string, url: URL): OutboundError {
  if (err instanceof OutboundError) return err
  const target = describeTarget(method, url)
  const code = (err as { code?: unknown } | undefined)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new OutboundError(OutboundErrorCodes.timeout, `${target}: ${message}`, { cause: err })
  }
  if (typeof code === 'string' && INVALID_CODES.has(code)) {
    return new OutboundError(OutboundErrorCodes.invalid, `${target}: ${message}`, { cause: err })
  }
  return new OutboundError(OutboundErrorCodes.unreachable, `${target}: ${typeof code === 'string' ? `${code} ` : ''}${message}`, { cause: err })
}
