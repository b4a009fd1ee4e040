import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Value } from '@sinclair/typebox/value'
import { Webhook } from 'standardwebhooks'
import { appendEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Subjects } from '../store/subjects.js'
import { callbackView } from '../store/callback-hub.js'
import { Events } from '../schema/events/index.js'
import { RequestId, type CallbackReceived } from '../schema/events/relay.js'
import { CallbackAck, CallbackList, CallbackListQuery, CallbackSubQuery } from '../schema/api/relay.js'
import { storeBody } from '../domain/relay.js'
import { listCallbacks, type ReceivedCallback } from '../projections/relay.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { sseConnectionsOf, lastEventIdOf, streamEvents } from './http/sse.js'
import { openapiDocs, sseResponse } from './http/openapi.js'
import { requireRelayOwner } from './relay.js'
import { Type } from '@sinclair/typebox'

// The seed's callback receiver: GET and POST /event/callback record what arrives as
// relay.callback.received (matched to a relay request when it names one) and answer 200;
// GET /event/callback/list lists them, GET /event/callback/sub streams them over SSE.

export interface CallbacksOptions {
  runtime: Runtime
  auth: Auth
}

const CALLBACK_BODY_LIMIT = 512 * 1024
/** Kept out of the event log: credentials a caller sends are not data. */
const REDACTED = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-intake-key'])

/** The relay request a callback answers: body.requestId, the jetway-request-id header, or ?requestId=. */
export function requestIdOf (body: unknown, headers: Record<string, unknown>, query: Record<string, unknown>): string | undefined {
  const candidates = [
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>).requestId : undefined,
    headers['jetway-request-id'],
    query.requestId
  ]
  return candidates.find((c): c is string => typeof c === 'string' && Value.Check(RequestId, c))
}

function viewOf (c: ReceivedCallback): typeof CallbackList.static['items'][number] {
  const { seq, ...data } = c
  return callbackView(seq, data) as typeof CallbackList.static['items'][number]
}

/**
 * jwt mode: the callbacks of one /async request are its caller's (404 to others); every
 * callback received, with no requestId, only an admin's.
 */
async function requireCallbackReader (runtime: Runtime, auth: Auth, request: FastifyRequest, requestId: string | undefined): Promise<void> {
  if (auth.mode === 'off' || auth.identity(request).admin) return
  if (requestId === undefined) throw new JetwayError(ErrorCodes.forbidden, 'every callback is for admins: give the requestId of an /async request of yours')
  await requireRelayOwner(runtime, auth, request, requestId)
}

export const callbacks: FastifyPluginAsyncTypebox<CallbacksOptions> = async (app, { runtime, auth }) => {
  const { js, db, clock, config } = runtime
  const hub = runtime.hubs.callbacks
  const connections = sseConnectionsOf(runtime)
  app.addHook('preClose', async () => { connections.closeAll() })
  const verifier = config.outbound.webhookSecret === undefined ? undefined : new Webhook(config.outbound.webhookSecret)

  // the receiver: open to whoever calls back (targets, Jetway itself), any content type
  await app.register(async scope => {
    const raws = new WeakMap<FastifyRequest, Buffer>()
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      raws.set(request, body as Buffer)
      done(null, body)
    })

    const receive = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const method = request.method === 'GET' ? 'GET' : 'POST'
      const raw = raws.get(request) ?? Buffer.alloc(0)
      const stored = storeBody(raw, request.headers['content-type'], config.relay.maxStoredBody)
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(request.headers)) {
        if (value === undefined) continue
        headers[name] = REDACTED.has(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value
      }
      const query = Object.fromEntries(Object.entries(request.query as Record<string, unknown>).map(([k, v]) => [k, String(v)]))
      const webhookId = typeof request.headers['webhook-id'] === 'string' ? request.headers['webhook-id'].slice(0, 256) : undefined
      let signature: CallbackReceived['signature'] = 'unsigned'
      if (request.headers['webhook-signature'] !== undefined) {
        if (verifier === undefined) {
          signature = 'unchecked'
        } else {
          try {
            verifier.verify(raw.toString('utf8'), request.headers as Record<string, string>)
            signature = 'valid'
          } catch {
            signature = 'invalid'
          }
        }
      }
      const requestId = requestIdOf(stored.bodyEncoding === 'json' ? stored.body : undefined, request.headers, query)
      const data: CallbackReceived = {
        method,
        ...(requestId === undefined ? {} : { requestId }),
        headers,
        query,
        body: stored.body,
        bodyEncoding: stored.bodyEncoding,
        signature,
        ...(webhookId === undefined ? {} : { webhookId }),
        receivedAt: clock.now().toISOString()
      }
      const appended = await appendEvent(js, {
        def: Events.callbackReceived,
        data,
        subject: Subjects.callbackReceived(requestId),
        source: '/jetway/event/callback',
        ...(requestId === undefined ? {} : { about: requestId }),
        // a redelivered signed callback (the same webhook-id) is recorded once
        ...(webhookId !== undefined && signature !== 'invalid' ? { idempotencyKey: `callback:${webhookId}` } : {}),
        correlationId: request.id,
        time: clock.now()
      })
      sendSeq(reply, 'RELAY', appended.seq)
      reply.header('jetway-duplicate', String(appended.duplicate))
      return await reply.code(200).send({ received: true, seq: appended.seq, requestId: requestId ?? null })
    }
    const route = {
      bodyLimit: CALLBACK_BODY_LIMIT,
      schema: { tags: ['relay'], summary: 'Receive a callback (any body; matched to a relay request by requestId, jetway-request-id or ?requestId=)', security: [], response: { 200: CallbackAck } },
      config: openapiDocs({ body: Type.Unknown({ description: 'anything: recorded as received (up to 512 KiB)' }), consumes: ['application/json', '*/*'] })
    }
    scope.post('/event/callback', route, receive)
    scope.get('/event/callback', route, receive)
  })

  await app.register(async plain => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>()
    scope.addHook('onRequest', async request => {
      // an EventSource cannot send headers: a token may come as ?access_token=
      const token = (request.query as Record<string, unknown>).access_token
      if (request.headers.authorization === undefined && typeof token === 'string') request.headers.authorization = `Bearer ${token}`
      await auth.authenticate(request)
    })

    scope.get('/event/callback/list', { schema: { tags: ['relay'], summary: 'The callbacks received, oldest first', querystring: CallbackListQuery, response: { 200: CallbackList } } }, async request => {
      const { requestId, after, limit } = request.query
      await requireCallbackReader(runtime, auth, request, requestId)
      await waitForProjection(runtime, 'relay', request, request.query.min_seq)
      const items = await listCallbacks(db, { ...(requestId === undefined ? {} : { requestId }), ...(after === undefined ? {} : { afterSeq: after }), limit: limit ?? 100 })
      return { items: items.map(viewOf) }
    })

    scope.get('/event/callback/sub', { schema: { tags: ['relay'], summary: 'Callbacks as they arrive, over SSE (one request\'s from the first)', querystring: CallbackSubQuery, response: { 200: sseResponse('relay.callback.received events') } } }, async (request, reply) => {
      const lastEventId = lastEventIdOf(request, request.query.lastEventId)
      const { requestId } = request.query
      await requireCallbackReader(runtime, auth, request, requestId)
      const filter = requestId === undefined ? Subjects.callbacks : Subjects.callbackReceived(requestId)
      await streamEvents(request, reply, lastEventId, {
        hub,
        connections,
        user: auth.identity(request).userId,
        key: requestId === undefined ? 'all' : `request:${requestId}`,
        replay: (after, to) => hub.replay(filter, after, to),
        // one request's callbacks are few: all of them; the whole feed is live only
        replayFromStart: requestId !== undefined
      })
    })
  })
}
