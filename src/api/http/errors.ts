import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError, type ErrorCode, type FieldError } from '../../lib/errors.js'
import { redactUrl } from '../../lib/log.js'
import { fieldErrors } from './validation.js'
import { OutboundError, OutboundErrorCodes, type OutboundErrorCode } from '../../lib/outbound.js'
import { unavailableKind, type UnavailableKind } from '../../store/nats-errors.js'
import { sseErrorAnswer } from './sse.js'

// The one place where errors become HTTP answers: application/problem+json (RFC 9457), with a
// field-level `errors` list on 400 and the seed's own failure field where a route declares one
// (route config `problemExtras`, e.g. { is_success: false } for the collector).

const STATUS: Record<ErrorCode, number> = {
  [ErrorCodes.validation]: 400,
  [ErrorCodes.unauthorized]: 401,
  [ErrorCodes.forbidden]: 403,
  [ErrorCodes.notFound]: 404,
  [ErrorCodes.conflict]: 409,
  [ErrorCodes.versionConflict]: 409,
  [ErrorCodes.preconditionFailed]: 412,
  [ErrorCodes.notCaughtUp]: 503,
  [ErrorCodes.unavailable]: 503,
  [ErrorCodes.storeUnavailable]: 503,
  [ErrorCodes.suppressed]: 409
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout'
}

/** An outbound call that got no answer (the relay's /sync), in HTTP. */
export const OUTBOUND_HTTP_STATUS: Record<OutboundErrorCode, number> = {
  [OutboundErrorCodes.timeout]: 504,
  [OutboundErrorCodes.unreachable]: 502,
  [OutboundErrorCodes.tooLarge]: 502,
  [OutboundErrorCodes.aborted]: 502,
  [OutboundErrorCodes.refused]: 403,
  [OutboundErrorCodes.invalid]: 422
}

/** Retry-After (seconds) of a 503 while the event store is unavailable: an election takes a few seconds */
export const STORE_RETRY_AFTER_S = 1

const STORE_REASONS: Record<UnavailableKind, string> = {
  timeout: 'did not answer in time',
  'no-leader': 'has no leader for this stream right now (a node was lost and a new leader is being elected)',
  cluster: 'cluster cannot serve this right now (a node was lost, or too few nodes are up)',
  connection: 'connection is down and reconnecting to another node'
}

/**
 * The problem detail of a 503 from the event store. A write may have been stored even so (a
 * publish whose ack was lost), so the answer tells the client to retry with the same key:
 * Nats-Msg-Id makes that retry store nothing new inside the duplicate window.
 */
function storeUnavailableDetail (method: string, kind: UnavailableKind): string {
  const what = `the event store (NATS JetStream) ${STORE_REASONS[kind]}`
  if (method === 'GET' || method === 'HEAD') return `${what}; retry after Retry-After`
  return `${what}. The write may or may not have been stored: retry after Retry-After with the same ` +
    'Idempotency-Key (or the same event_id, for collected events); a retry within the duplicate window is stored once'
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance: string
  errors?: FieldError[]
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, status: number, code: string, detail: string, errors?: FieldError[]): FastifyReply {
  // an SSE route answers what its client should retry (429, 5xx) so that an EventSource comes back
  const later = sseErrorAnswer(request, reply, status, detail)
  if (later !== undefined) return later
  const extras = (request.routeOptions.config as { problemExtras?: Record<string, unknown> } | undefined)?.problemExtras
  const body: Problem & Record<string, unknown> = {
    type: `urn:jetway:problem:${code.replace(/^(JETWAY|FST_ERR)_/, '').toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    // secrets a URL can carry (?access_token=, ?key=) are masked, as in the request log
    instance: redactUrl(request.url),
    ...(errors !== undefined && errors.length > 0 ? { errors } : {}),
    ...extras
  }
  return reply.code(status).type('application/problem+json').serializer(JSON.stringify).send(body)
}

const CODE = /^[A-Z][A-Z0-9_]{0,63}$/

/** What any thrown value says, read defensively: a library may throw anything. */
function describe (err: unknown): { status: number | undefined, code: string | undefined, message: string | undefined } {
  if (typeof err !== 'object' || err === null) return { status: undefined, code: undefined, message: undefined }
  const e = err as { statusCode?: unknown, code?: unknown, message?: unknown }
  return {
    status: typeof e.statusCode === 'number' && Number.isInteger(e.statusCode) && e.statusCode >= 400 && e.statusCode <= 599 ? e.statusCode : undefined,
    code: typeof e.code === 'string' && CODE.test(e.code) ? e.code : undefined,
    message: typeof e.message === 'string' && e.message !== '' ? e.message : undefined
  }
}

export function installErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    try {
      return handle(err, request, reply)
    } catch (failure) {
      // The handler itself must never throw (Fastify would answer a plain-text 500).
      request.log.error({ err: failure, cause: err }, 'error handler failed')
      return sendProblem(request, reply, 500, 'JETWAY_INTERNAL', `internal error (request ${request.id})`)
    }
  })
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, 404, ErrorCodes.notFound, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`))
}

/**
 * Fastify's `frameworkErrors`: errors raised before routing (a path that is not valid
 * percent-encoded UTF-8, a path parameter over the router's length) get problem bodies too.
 */
export function frameworkError (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
  const message = tooLong ? 'has a parameter longer than any route takes' : 'is not valid percent-encoded UTF-8'
  sendProblem(request, reply, tooLong ? 414 : 400, typeof err.code === 'string' ? err.code : ErrorCodes.validation, `the path ${message}`, [{ field: '(path)', message }])
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (a CR, LF or NUL in a
 * header value or the path, bytes that are not HTTP) never reaches a route, and Fastify's default
 * answers it in its own JSON. It gets a problem body like any other error, then the connection
 * is closed, as Node does.
 */
export function clientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const detail = status === 408 ? 'the request was not received in time' : status === 431 ? 'the request headers are too large' : 'the request is not valid HTTP'
  writeProblem(socket, status, 'JETWAY_BAD_REQUEST', detail)
  socket.destroy(err)
}

/**
 * A CONNECT (Node hands it to the server's 'connect' listener, and with none closes the socket
 * without a word): this server is no proxy, so 501 with a problem body, then the socket closes.
 */
export function connectRefused (socket: Socket): void {
  writeProblem(socket, 501, 'JETWAY_METHOD_NOT_IMPLEMENTED', 'CONNECT is not implemented: this server is not a proxy')
  socket.destroySoon()
}

/** A problem answer written straight to a socket, for what never becomes a Fastify request. */
function writeProblem (socket: Socket, status: number, code: string, detail: string): void {
  if (!socket.writable) return
  const title = TITLES[status]!
  const body = JSON.stringify({ type: `urn:jetway:problem:${code.replace(/^JETWAY_/, '').toLowerCase().replace(/_/g, '-')}`, title, status, detail, code })
  socket.write(`HTTP/1.1 ${status} ${title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

function handle (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof JetwayError) {
    const status = STATUS[err.code]
    if (err.code === ErrorCodes.notCaughtUp) reply.header('retry-after', '1')
    return sendProblem(request, reply, status, err.code, err.message, err.errors)
  }
  // an outbound call that got no answer (the relay): 504 timeout, 502 unreachable, 403 refused, 422 invalid
  if (err instanceof OutboundError) return sendProblem(request, reply, OUTBOUND_HTTP_STATUS[err.code], err.code, err.message)
  if (typeof err === 'object' && err !== null && err.validation !== undefined) {
    const prefix = err.validationContext === 'body' ? '' : err.validationContext ?? ''
    const errors = fieldErrors(err.validation as Parameters<typeof fieldErrors>[0], prefix === 'querystring' || prefix === 'params' ? '' : prefix)
    return sendProblem(request, reply, 400, ErrorCodes.validation, `invalid ${err.validationContext ?? 'request'}: ${errors.map(e => `${e.field} ${e.message}`).join('; ')}`, errors)
  }
  const unavailable = unavailableKind(err)
  if (unavailable !== undefined) {
    request.log.warn({ err, kind: unavailable }, 'event store unavailable: answered 503 with Retry-After')
    reply.header('retry-after', String(STORE_RETRY_AFTER_S))
    return sendProblem(request, reply, 503, ErrorCodes.storeUnavailable, storeUnavailableDetail(request.method, unavailable))
  }
  const { status = 500, code, message } = describe(err)
  if (status >= 500) {
    request.log.error({ err }, 'request failed')
    // 5xx details stay in the log; the client gets the request id to quote
    return sendProblem(request, reply, status, code ?? 'JETWAY_INTERNAL', `internal error (request ${request.id})`)
  }
  const errors = code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError
    ? [{ field: '(body)', message: message ?? 'is not valid JSON' }]
    : undefined
  return sendProblem(request, reply, status, code ?? 'JETWAY_BAD_REQUEST', message ?? TITLES[status] ?? 'bad request', errors)
}
