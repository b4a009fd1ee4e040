import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Runtime } from './runtime.js'
import { clientError, connectRefused, frameworkError, installErrorHandlers } from './api/http/errors.js'
import { requestIdOf } from './lib/log.js'
import { validatorCompiler } from './api/http/validation.js'
import { buildAuth } from './api/http/auth.js'
import { health } from './api/health.js'
import { collect } from './api/collect.js'
import { tracking } from './api/tracking.js'
import { jobs } from './api/jobs.js'
import { meetings } from './api/meetings.js'
import { taskRoutes } from './api/task-routes.js'
import { relayApi } from './api/relay.js'
import { broker } from './api/broker.js'
import { callbacks } from './api/callbacks.js'
import { registerOpenApi } from './api/http/openapi.js'
import { RequestMeter } from './api/http/request-meter.js'
import { admin } from './api/admin.js'
import { consolePlugin } from './api/console.js'
import { erasuresApi } from './api/erasures.js'
import { registerEdge, securityHeaders, setHeaders } from './api/http/edge.js'
import { ErrorCodes, JetwayError } from './lib/errors.js'

/** Seconds a request that arrives while the server closes is told to wait (a restart, or another instance). */
const CLOSING_RETRY_AFTER_S = 2
import { lingerOnEarlyAnswers } from './api/http/lingering-close.js'

/**
 * The HTTP face of a runtime; never listens (src/server.ts does, tests inject()). Health and
 * metrics are served in every role; the feature routes only with the `api` role.
 */
export async function buildApp (runtime: Runtime, opts: { onRoute?: (route: RouteOptions) => void } = {}): Promise<FastifyInstance> {
  const { config } = runtime
  const headers = securityHeaders(config)
  const app = Fastify({
    loggerInstance: runtime.log as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    // a client's x-request-id is kept only when short printable ASCII (src/lib/log.ts)
    requestIdHeader: false,
    genReqId: requestIdOf,
    // the schemas bound path parameters (a 200-character user id, percent-encoded, is longer
    // than the router's default 100); a bad path is a problem body like any other error
    routerOptions: { maxParamLength: 2400 },
    // answered before routing, so no hook runs: the headers every answer carries are set here
    frameworkErrors: (err, request, reply) => {
      setHeaders(reply, headers)
      reply.header('x-request-id', request.id)
      frameworkError(err, request, reply)
    },
    clientErrorHandler: clientError,
    // A request (headers and body) arrives within REQUEST_TIMEOUT, else 408 (errors.ts
    // clientError) and the socket is closed: a body that never ends held it for ever. Node
    // looks every connectionsCheckingInterval; an answered request (an SSE stream) is not looked at.
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs),
      // Node answers an HTTP/1.1 request without Host with an empty 400: edge.ts answers it
      requireHostHeader: false
    },
    // off: refuseWhileClosing answers instead, after the hooks (Fastify's 503 comes before any)
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    logController: new RequestLog(),
    // TRUST_PROXY: which proxies' X-Forwarded-For names the client (logs, the per-IP rate limit)
    trustProxy: typeof config.trustProxy === 'number' ? hopsOf(config.trustProxy) : config.trustProxy
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  // JSON only: without this, Fastify would parse text/plain and answer 400 instead of 415.
  app.removeContentTypeParser('text/plain')
  installErrorHandlers(app)
  app.addHook('onSend', async (request, reply) => { reply.header('x-request-id', request.id) })
  dropUnusedConnectionsOnClose(app)
  refuseWhileClosing(app)
  app.server.on('connect', (_request: IncomingMessage, socket: Socket) => { connectRefused(socket) })
  lingerOnEarlyAnswers(app)
  if (opts.onRoute !== undefined) app.addHook('onRoute', opts.onRoute)
  const meter = new RequestMeter()
  app.addHook('onResponse', async (_request, reply) => { meter.record(reply.statusCode) })

  const auth = config.roles.has('api') ? buildAuth(config.auth) : undefined
  // security headers, CORS, the rate limit: root hooks that run before every route's own
  await registerEdge(app, { config, auth })
  // first of the routes: it collects every route registered after it (/openapi.json, /docs)
  await registerOpenApi(app)
  await app.register(health, { runtime })
  if (auth !== undefined) {
    await app.register(collect, { runtime, auth })
    await app.register(tracking, { runtime })
    await app.register(jobs, { runtime, auth })
    await app.register(meetings, { runtime, auth })
    await app.register(taskRoutes, { runtime, auth })
    await app.register(relayApi, { runtime, auth })
    await app.register(broker, { runtime, auth })
    await app.register(callbacks, { runtime, auth })
    await app.register(admin, { runtime, auth, meter })
    await app.register(consolePlugin, { runtime, auth })
    await app.register(erasuresApi, { runtime, auth })
  }
  return app
}

/**
 * One line per request, at debug, where Fastify writes two at info (work on every request at
 * the default level that most deployments do not read); an error answer is logged by the
 * error handler at any level.
 */
class RequestLog extends LogController {
  override incomingRequest (): void {}
  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error !== null && error !== undefined) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else reply.log.debug({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/**
 * On close, also drop the connections with no request in flight that Node does not count as
 * idle (opened and not used yet, as HTTP clients open them ahead). Left open they hold the
 * server's close for up to headersTimeout, and a request arriving on one is turned away.
 */
function dropUnusedConnectionsOnClose (app: FastifyInstance): void {
  const sockets = new Set<Socket>()
  const busy = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => { sockets.delete(socket); busy.delete(socket) })
  })
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    busy.add(request.socket)
    response.once('close', () => busy.delete(request.socket))
  })
  app.addHook('preClose', async () => {
    for (const socket of sockets) if (!busy.has(socket)) socket.destroy()
  })
}

/**
 * While the server closes, a request that still reaches a route (sent on a kept-alive
 * connection) is answered 503 with Retry-After as a problem body, and on an SSE route with the
 * come-back-later stream (src/api/http/sse.ts): a spec-compliant EventSource gives up for good
 * on a 503. The first hook of every route, so nothing else runs for it.
 */
function refuseWhileClosing (app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('retry-after', String(CLOSING_RETRY_AFTER_S))
    throw new JetwayError(ErrorCodes.unavailable, 'the server is shutting down; retry (another instance, or this one once it is back)')
  })
}

/** TRUST_PROXY as a hop count: the nearest `hops` addresses of X-Forwarded-For are proxies. */
function hopsOf (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}
