import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import cors from '@fastify/cors'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { Config } from '../../config.js'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import { MAX_JSON_DEPTH, nestsDeeperThan, textNestsDeeperThan } from '../../lib/json-nesting.js'
import type { Auth } from './auth.js'
import { sendProblem } from './errors.js'

// What every answer passes through before any route: security headers, CORS for browser
// clients on other origins (@fastify/cors, only with CORS_ORIGINS), the rate limit
// (@fastify/rate-limit, per user or IP), and the bound on JSON nesting of every body. Registered on the root before any route, so each
// hook runs first for every route, the 404 answer included. SSE routes hijack their reply:
// src/api/http/sse.ts and sse-tail.ts write the headers set here into their own head.
//
// The security headers are helmet's set, written by hand: they are the same for every answer,
// so they are computed once (@fastify/helmet builds its middleware again on every request), and
// the answers Fastify gives before routing, which run no hook, get them too (src/app.ts).

export interface EdgeOptions {
  config: Pick<Config, 'rateLimit' | 'corsOrigins' | 'hstsMaxAgeS'>
  /** names the user of a request (undefined without the `api` role: per IP only) */
  auth: Auth | undefined
}

/** Probes and scrapes are never limited: an orchestrator or Prometheus must always get through. */
export const RATE_LIMIT_EXEMPT: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics'])

/** Request headers a browser on another origin may send (the preflight allows them). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'Last-Event-ID', 'jetway-seq', 'X-Request-Id']

/** Answer headers its script may read. */
export const CORS_EXPOSED_HEADERS = [
  'ETag', 'Location', 'Retry-After', 'jetway-seq', 'jetway-duplicate', 'jetway-request-id', 'x-request-id',
  'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'
]

/** Clients tracked by the in-memory limiter; past it the least recently seen is forgotten. */
const RATE_LIMIT_CLIENTS = 100_000
/** How long a browser may cache a preflight answer (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE_S = 600

/** The security headers of every answer (what helmet 8 sends, stricter where an API can be). */
export function securityHeaders (config: Pick<Config, 'corsOrigins' | 'hstsMaxAgeS'>): ReadonlyArray<readonly [string, string]> {
  return [
    // For the JSON, problem and SSE answers: nothing to load, frame or submit. The pages
    // (console, approval page, /docs) set their own policy, which replaces this one.
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"],
    ['x-content-type-options', 'nosniff'],
    ['x-frame-options', 'DENY'],
    ['referrer-policy', 'no-referrer'],
    ['cross-origin-opener-policy', 'same-origin'],
    // with CORS on, the allowed origins read answers too (a no-cors fetch, an <img>)
    ['cross-origin-resource-policy', config.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin'],
    ['origin-agent-cluster', '?1'],
    ['x-dns-prefetch-control', 'off'],
    ['x-permitted-cross-domain-policies', 'none'],
    // the old XSS auditors did harm; 0 turns off any left
    ['x-xss-protection', '0'],
    // HSTS binds the host name to HTTPS in every browser that saw it: only when asked for
    ...(config.hstsMaxAgeS === undefined ? [] : [['strict-transport-security', `max-age=${config.hstsMaxAgeS}`] as const])
  ]
}

/** On the raw response: the answers Fastify gives before routing (src/app.ts). */
export function setHeaders (reply: FastifyReply, headers: ReadonlyArray<readonly [string, string]>): void {
  for (const [name, value] of headers) reply.raw.setHeader(name, value)
}

declare module 'fastify' {
  interface FastifyInstance {
    /** the security headers, for the answers that write their own head (SSE) */
    securityHeaders: Readonly<Record<string, string>>
  }
}

export async function registerEdge (app: FastifyInstance, { config, auth }: EdgeOptions): Promise<void> {
  const headers = securityHeaders(config)
  // At onSend, where a page's own header (its CSP) is already set and wins. Not on the raw
  // response at onRequest: a header set there is kept, as its own array, for as long as the
  // response lives, and an SSE response lives for hours (3 KB a connection, measured).
  app.addHook('onSend', async function setSecurityHeaders (_request, reply, payload) {
    for (const [name, value] of headers) if (!reply.hasHeader(name)) reply.header(name, value)
    return payload
  })
  app.decorate('securityHeaders', Object.freeze(Object.fromEntries(headers)))

  // What Node's parser lets through and no route should see: an HTTP/1.1 request without Host
  // (RFC 9112 3.2: 400), and a transfer coding other than chunked (gzip, chunked was read as if
  // the gzip were not there; RFC 9112 6.1: 501 for one not understood).
  app.addHook('onRequest', async function transport (request, reply) {
    const raw = request.raw
    if (raw.httpVersion === '1.1' && raw.headers.host === undefined) {
      return sendProblem(request, reply, 400, ErrorCodes.validation, 'an HTTP/1.1 request needs a Host header', [{ field: 'Host', message: 'is required' }])
    }
    const codings = raw.headers['transfer-encoding']
    if (codings !== undefined && codings.split(',').some(c => c.trim().toLowerCase() !== 'chunked')) {
      return sendProblem(request, reply, 501, 'JETWAY_TRANSFER_CODING_NOT_IMPLEMENTED', `Transfer-Encoding ${codings}: only chunked is understood`,
        [{ field: 'Transfer-Encoding', message: 'must be chunked' }])
    }
  })

  if (config.corsOrigins.length > 0) {
    const any = config.corsOrigins.includes('*')
    const allowed = new Set(config.corsOrigins)
    const options = {
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      // tokens ride in Authorization (or ?access_token= for an EventSource), never in cookies
      credentials: false,
      maxAge: PREFLIGHT_MAX_AGE_S
    }
    await app.register(cors, {
      // Per request: only a request from an allowed origin gets CORS headers, and only an
      // OPTIONS that is a real preflight (Origin and Access-Control-Request-Method) is answered
      // here; any other OPTIONS (the CloudEvents webhook handshake of /noti/events) reaches its route.
      delegator: (request: FastifyRequest, callback: (error: Error | null, options: object) => void) => {
        const origin = request.headers.origin
        const plainOptions = request.method === 'OPTIONS' && request.headers['access-control-request-method'] === undefined
        const ok = origin !== undefined && !plainOptions && (any || allowed.has(origin))
        callback(null, ok ? { ...options, origin: any ? '*' : origin } : { origin: false })
      }
    })
  }

  // After any route's parser, before its schema: a parsed body, or the JSON a route reads as
  // bytes (a binary CloudEvent, a callback), nests at most MAX_JSON_DEPTH levels.
  app.addHook('preValidation', async function boundedNesting (request) {
    if (nestedTooDeeply(request.body, request.headers['content-type'])) {
      throw new JetwayError(ErrorCodes.validation, `the body is JSON nested more than ${MAX_JSON_DEPTH} levels deep`, [{ field: '(body)', message: 'is nested too deeply' }])
    }
  })

  if (config.rateLimit !== undefined) {
    const { max, windowMs } = config.rateLimit
    await app.register(rateLimit, {
      global: false,
      max,
      timeWindow: windowMs,
      cache: RATE_LIMIT_CLIENTS,
      // a verified token's user, else the client address: a user is limited wherever they
      // come from, and a forged token only spends its sender's own address's allowance
      keyGenerator: async request => {
        const user = auth === undefined ? undefined : await auth.subject(request)
        // (an IPv6 client by its /64, as the library's default does)
        return user === undefined ? `ip:${normalizeIP(request.ip)}` : `user:${user}`
      },
      errorResponseBuilder: (_request, context) => Object.assign(
        new Error(`more than ${context.max} requests in ${formatWindow(windowMs)}; retry in ${context.after}`),
        { statusCode: context.statusCode, code: 'JETWAY_RATE_LIMITED' }
      )
    })
    // On the root, not per route: it runs before the routes' own authentication, so requests
    // that fail it (401) and requests for no route (404) count too. An SSE connection is one request.
    const limit = app.rateLimit()
    app.addHook('onRequest', async function rateLimited (request, reply) {
      if (RATE_LIMIT_EXEMPT.has(request.routeOptions.url ?? '')) return
      await limit.call(this, request, reply)
    })
  }
}

const JSON_TYPE = /^[^;]*\bjson\b/i

function nestedTooDeeply (body: unknown, contentType: string | undefined): boolean {
  if (typeof body === 'string' || body instanceof Uint8Array) return contentType !== undefined && JSON_TYPE.test(contentType) && textNestsDeeperThan(body, MAX_JSON_DEPTH)
  return nestsDeeperThan(body, MAX_JSON_DEPTH)
}

function formatWindow (ms: number): string {
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? 'an hour' : `${ms / 3_600_000} hours`
  if (ms % 60_000 === 0) return ms === 60_000 ? 'a minute' : `${ms / 60_000} minutes`
  return `${ms / 1000} seconds`
}
