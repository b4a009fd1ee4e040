import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import sjson from 'secure-json-parse'
import { appendEvent, decodeEvent } from '../store/events.js'
import type { MsgRequest } from '@nats-io/jetstream'
import { Subjects } from '../store/subjects.js'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { OutboundError, OutboundErrorCodes } from '../lib/outbound.js'
import { parseIsoDuration, toIsoDuration } from '../lib/iso-duration.js'
import { Events } from '../schema/events/index.js'
import type { DeliveryPolicy } from '../schema/events/relay.js'
import { AsyncAccepted, AsyncStatus, RelayBody, RequestParams, type DeliverySpec } from '../schema/api/relay.js'
import { MinSeqQuery } from '../schema/api/common.js'
import { bodyText, callbackUrlOf, checkHttpUrl, storedResponse, targetUrlOf, withJsonType, type RelayState } from '../domain/relay.js'
import { findRelayRequest } from '../projections/relay.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { idempotencyKeyOf, idForKey } from './http/idempotency.js'
import { OUTBOUND_HTTP_STATUS } from './http/errors.js'
import { bodyValidator } from './http/validation.js'
import { timedCall, isResponse } from '../workers/relay-attempts.js'
import { openapiDocs, problem } from './http/openapi.js'

// The relay of seed 001: GET/POST /sync call the target now and answer with its answer;
// POST /async answers 202 {requestId} once relay.requested is in RELAY, and the relay-delivery
// worker does the rest (attempts, retries as durable timers, the signed callback).

export interface RelayOptions {
  runtime: Runtime
  auth: Auth
}

const validateRelayBody = bodyValidator(RelayBody)
const ASYNC_BODY_LIMIT = 512 * 1024

/** The seed's headers object as strings. */
function headerStrings (headers: RelayBody['headers']): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]))
}

/** The body of a GET, which Fastify does not read: the seed sends its JSON body with GET /sync. */
async function readRawBody (request: FastifyRequest, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length
    if (size > limit) throw Object.assign(new Error(`request body is larger than ${limit} bytes`), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The validated seed body and its target URL, or a 400 naming the fields. */
function relayInput (raw: unknown): { input: RelayBody, url: string } {
  const checked = validateRelayBody(raw, '')
  if (!checked.ok) throw new JetwayError(ErrorCodes.validation, `invalid body: ${checked.errors.map(e => `${e.field} ${e.message}`).join('; ')}`, checked.errors)
  const input = checked.value
  const url = targetUrlOf(input.targetURL, input.targetAPI)
  const bad = checkHttpUrl(url)
  if (bad !== undefined) throw new JetwayError(ErrorCodes.validation, `targetURL + targetAPI ${bad}`, [{ field: 'targetURL', message: bad }])
  return { input, url }
}

/** A request's delivery policy: its own `delivery`, else the relay's defaults. */
export function policyOf (spec: DeliverySpec | undefined, defaults: Runtime['config']['relay']): DeliveryPolicy | FieldError[] {
  const errors: FieldError[] = []
  const ms = (field: 'backoffDelay' | 'timeout', fallback: number): number => {
    const text = spec?.[field]
    if (text === undefined) return fallback
    const value = parseIsoDuration(text)
    if (value === undefined || (field === 'timeout' && value <= 0)) {
      errors.push({ field: `delivery.${field}`, message: 'must be an ISO 8601 duration such as PT0.5S or PT1M' })
      return fallback
    }
    return value
  }
  const policy: DeliveryPolicy = {
    retry: spec?.retry ?? defaults.retry,
    backoffPolicy: spec?.backoffPolicy ?? defaults.backoffPolicy,
    backoffDelayMs: ms('backoffDelay', defaults.backoffDelayMs),
    timeoutMs: ms('timeout', defaults.timeoutMs)
  }
  return errors.length > 0 ? errors : policy
}

/**
 * Who made an /async request: the actor of its first event (relay.requested). Read from the
 * stream, since the read model does not keep it; undefined for no such request.
 */
export async function relayOwner (jsm: Runtime['jsm'], requestId: string): Promise<string | undefined> {
  const first = await jsm.streams.getMessage('RELAY', { seq: 0, next_by_subj: Subjects.relayRequest(requestId) } as unknown as MsgRequest).catch(() => null)
  return first === null ? undefined : decodeEvent(first).actor
}

/** jwt mode: an /async request (and the callbacks that answer it) is its caller's, or an admin's; 404 to anyone else. */
export async function requireRelayOwner (runtime: Runtime, auth: Auth, request: FastifyRequest, requestId: string): Promise<void> {
  const id = auth.identity(request)
  if (auth.mode === 'off' || id.admin) return
  if (await relayOwner(runtime.jsm, requestId) !== id.userId) throw new JetwayError(ErrorCodes.notFound, `no /async request ${requestId}`)
}

export function asyncStatusOf (s: RelayState): AsyncStatus {
  const orNull = <T>(v: T | undefined): T | null => v === undefined ? null : v
  const d = s.request.delivery
  return {
    requestId: s.requestId,
    status: s.status,
    method: s.request.method,
    url: s.request.url,
    targetURL: s.request.targetURL,
    targetAPI: s.request.targetAPI,
    requestedAt: s.request.requestedAt,
    updatedAt: s.updatedAt,
    delivery: { retry: d.retry, backoffPolicy: d.backoffPolicy, backoffDelay: toIsoDuration(d.backoffDelayMs), timeout: toIsoDuration(d.timeoutMs) },
    rounds: s.rounds,
    attemptCount: s.roundAttempts,
    nextAttemptAt: s.status === 'pending' ? orNull(s.nextAttemptAt) : null,
    attempts: s.attempts.map(a => ({
      to: a.to,
      round: a.round,
      attempt: a.attempt,
      at: a.at,
      durationMs: a.durationMs,
      status: orNull(a.status),
      code: orNull(a.code),
      error: orNull(a.error),
      nextAttemptAt: orNull(a.nextAttemptAt)
    })),
    response: orNull(s.response),
    error: s.error === undefined ? null : { code: orNull(s.error.code), message: s.error.message },
    deadLetter: s.dlqSeq === undefined ? null : { dlqSeq: s.dlqSeq, replay: `npm run dlq -- replay ${s.dlqSeq}` },
    callback: {
      url: orNull(s.callback.url),
      status: s.callback.status,
      attemptCount: s.callback.roundAttempts,
      nextAttemptAt: s.callback.status === 'pending' ? orNull(s.callback.nextAttemptAt) : null,
      lastError: orNull(s.callback.lastError),
      webhookId: orNull(s.callback.webhookId)
    }
  }
}

export const relayApi: FastifyPluginAsyncTypebox<RelayOptions> = async (app, { runtime, auth }) => {
  const { js, db, clock, config, outbound } = runtime
  app.addHook('onRequest', auth.authenticate)

  /**
   * The JSON body of a GET, which Fastify does not read, read before validation as a POST's is
   * (so the rules every body meets at the edge, src/api/http/edge.ts, meet it too).
   */
  const readGetBody = async (request: FastifyRequest): Promise<void> => {
    const text = await readRawBody(request, config.bodyLimit)
    try {
      request.body = text.trim() === '' ? undefined : sjson.parse(text)
    } catch (err) {
      throw new JetwayError(ErrorCodes.validation, `malformed JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }])
    }
  }
  const sync = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const method = request.method === 'GET' ? 'GET' : 'POST'
    const { input, url } = relayInput(request.body)
    const requestId = randomUUID()
    const headers = headerStrings(input.headers)
    const body = method === 'GET' ? undefined : bodyText(input.body)
    await appendEvent(js, {
      def: Events.syncRequested,
      data: { requestId, method, targetURL: input.targetURL, targetAPI: input.targetAPI, url, headers, ...(body === undefined ? {} : { body: input.body }), requestedAt: clock.now().toISOString() },
      subject: Subjects.relaySync(requestId),
      source: '/jetway/sync',
      about: requestId,
      actor: auth.identity(request).userId,
      correlationId: request.id,
      time: clock.now()
    })
    const { outcome, durationMs } = await timedCall(outbound, { method, url, headers: withJsonType(headers, body), body })
    reply.header('jetway-request-id', requestId)
    if (isResponse(outcome)) {
      const appended = await appendEvent(js, {
        def: Events.syncAnswered,
        data: { requestId, response: storedResponse(outcome, config.relay.maxStoredBody), durationMs },
        subject: Subjects.relaySync(requestId),
        source: '/jetway/sync',
        about: requestId,
        correlationId: request.id,
        time: clock.now()
      })
      sendSeq(reply, 'RELAY', appended.seq)
      // the target's answer as it came: status, end-to-end headers (hop-by-hop ones are gone), body bytes
      for (const [name, value] of Object.entries(outcome.headers)) {
        if (name === 'content-length' || name === 'date') continue
        reply.header(name, value)
      }
      return await reply.code(outcome.status).serializer((v: unknown) => v as string).send(outcome.body)
    }
    const err = outcome instanceof OutboundError ? outcome : new OutboundError(OutboundErrorCodes.unreachable, String(outcome))
    const httpStatus = OUTBOUND_HTTP_STATUS[err.code]
    const detail = err.message.includes(url) ? err.message : `${method} ${url}: ${err.message}`
    const appended = await appendEvent(js, {
      def: Events.syncFailed,
      data: { requestId, code: err.code, error: detail.slice(0, 2000), httpStatus, durationMs },
      subject: Subjects.relaySync(requestId),
      source: '/jetway/sync',
      about: requestId,
      correlationId: request.id,
      time: clock.now()
    })
    sendSeq(reply, 'RELAY', appended.seq)
    throw new OutboundError(err.code, detail)
  }
  const syncRoute = {
    schema: { tags: ['relay'], summary: 'Call the target now and answer with its answer (status, headers, body); the call is recorded in RELAY' },
    config: openapiDocs({
      body: RelayBody,
      responses: {
        200: { description: 'The target\'s answer as it came (any status; hop-by-hop headers dropped); jetway-request-id names the record' },
        502: problem('The target could not be reached, or its answer was too large'),
        504: problem('The target did not answer within the timeout')
      }
    })
  }
  app.get('/sync', { ...syncRoute, preParsing: async (request, _reply, payload) => { await readGetBody(request); return payload } }, sync)
  app.post('/sync', syncRoute, sync)

  app.post('/async', {
    bodyLimit: ASYNC_BODY_LIMIT,
    schema: { tags: ['relay'], summary: 'Accept a call to make later, with retries and a signed callback; answers 202 {requestId} (Idempotency-Key honoured)', response: { 202: AsyncAccepted } },
    config: openapiDocs({ body: RelayBody })
  }, async (request, reply) => {
    const { input, url } = relayInput(request.body)
    const delivery = policyOf(input.delivery, config.relay)
    if (Array.isArray(delivery)) throw new JetwayError(ErrorCodes.validation, 'invalid delivery policy', delivery)
    const callbackUrl = callbackUrlOf(input.body)
    if (callbackUrl !== undefined) {
      const bad = checkHttpUrl(callbackUrl)
      if (bad !== undefined) throw new JetwayError(ErrorCodes.validation, `the callback URL ${bad}`, [{ field: 'body.callback_uri', message: bad }])
    }
    const key = idempotencyKeyOf(request)
    // with an Idempotency-Key, a retry of the same POST gets the same requestId and appends nothing
    const requestId = key === undefined ? randomUUID() : idForKey('async', auth.identity(request).userId ?? '', key, 'base64url')
    const appended = await appendEvent(js, {
      def: Events.relayRequested,
      data: {
        requestId,
        targetURL: input.targetURL,
        targetAPI: input.targetAPI,
        url,
        method: 'POST',
        headers: headerStrings(input.headers),
        ...(input.body === undefined ? {} : { body: input.body }),
        ...(callbackUrl === undefined ? {} : { callbackUrl }),
        delivery,
        requestedAt: clock.now().toISOString()
      },
      subject: Subjects.relayRequest(requestId),
      source: '/jetway/async',
      about: requestId,
      idempotencyKey: `async:${requestId}`,
      actor: auth.identity(request).userId,
      correlationId: request.id,
      time: clock.now()
    })
    sendSeq(reply, 'RELAY', appended.seq)
    reply.header('jetway-duplicate', String(appended.duplicate))
    reply.header('location', `/async/${requestId}`)
    return await reply.code(202).send({ requestId })
  })

  app.get('/async/:requestId', { schema: { tags: ['relay'], summary: 'An /async request: status, every attempt, the answer, the callback', params: RequestParams, querystring: MinSeqQuery, response: { 200: AsyncStatus } } }, async request => {
    await waitForProjection(runtime, 'relay', request, request.query.min_seq)
    let found = await findRelayRequest(db, request.params.requestId)
    if (found === undefined) {
      // not applied here yet (another instance took the write): wait, bounded, for the stream's end
      await runtime.readModels.waitFor('relay', await runtime.readModels.streamEnd('RELAY'), config.readWaitMs)
      found = await findRelayRequest(db, request.params.requestId)
    }
    if (found?.kind !== 'async') throw new JetwayError(ErrorCodes.notFound, `no /async request ${request.params.requestId}`)
    await requireRelayOwner(runtime, auth, request, request.params.requestId)
    return asyncStatusOf(found.state)
  })
}
