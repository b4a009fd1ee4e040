import { randomUUID } from 'node:crypto'
import { createGunzip } from 'node:zlib'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { BatchBody, BatchBodyDoc, MessageSchemas, TrackingResponse, type SdkMessage } from '../schema/api/tracking.js'
import { SdkMessageTypes, type SdkMessageType } from '../schema/events/collect.js'
import { Events } from '../schema/events/index.js'
import { envelopeOf, toCollectEventV2, type Envelope } from '../domain/tracking.js'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { mapLimit } from '../lib/concurrency.js'
import type { Runtime } from '../runtime.js'
import { appendCollected, BATCH_IN_FLIGHT } from './collect.js'
import { sendSeq } from './http/consistency.js'
import { openapiDocs } from './http/openapi.js'
import { bodyValidator } from './http/validation.js'
import { writeKeys } from './http/write-keys.js'

// The Segment HTTP tracking API, which RudderStack's SDKs and data plane speak too, so that an
// application's analytics SDK (@segment/analytics-node, analytics.js, the mobile SDKs,
// @rudderstack/rudder-sdk-node, …) sends to the collector unchanged: POST /v1/track, /identify,
// /page, /screen, /group, /alias (one message), /v1/batch and /v1/import (many), answered
// `200 {"success": true}`. Each message becomes the collector's one event,
// collect.event.received v2 (the mapping: src/domain/tracking.ts), on the same stream, read
// model and searches as /api/collect's, deduplicated per user by its messageId.
//
// The write key (COLLECT_WRITE_KEYS) is the credential, not a user's token: with keys, a
// request without a known one is a 401; without keys, AUTH_MODE=off takes every request and
// AUTH_MODE=jwt serves none of these routes. Segment's limits: 32 KB a message (over it, a
// 400 naming the message), 500 KB a request (over it, 413). A bad message in a batch is
// refused alone: the others are stored and the 200 names each refused one (`success: false`);
// a 4xx stores nothing, so only a batch refused whole is a 400.

export interface TrackingOptions {
  runtime: Runtime
}

/** Segment's limits, in bytes of JSON */
export const MESSAGE_LIMIT = 32 * 1024
export const REQUEST_LIMIT = 500 * 1024

const FAILURE = { problemExtras: { success: false } }
const DUPLICATE_HEADER = 'jetway-duplicate'
const SOURCE = '/jetway/collect/v1'

const validators = Object.fromEntries(SdkMessageTypes.map(t => [t, bodyValidator(MessageSchemas[t])])) as
  Record<SdkMessageType, ReturnType<typeof bodyValidator<typeof MessageSchemas[SdkMessageType]>>>
const isType = (value: unknown): value is SdkMessageType => typeof value === 'string' && (SdkMessageTypes as readonly string[]).includes(value)

interface Stored { status: 'accepted' | 'duplicate', seq: number }
type Outcome = Stored | FieldError[]

export const tracking: FastifyPluginAsyncTypebox<TrackingOptions> = async (app, { runtime }) => {
  const { js, clock, config, log } = runtime
  const keys = writeKeys(config.collect.writeKeys)
  if (!keys.configured && config.auth.mode === 'jwt') {
    log.warn('AUTH_MODE=jwt without COLLECT_WRITE_KEYS: the analytics SDK routes (POST /v1/track, /v1/batch, …) are not served; set COLLECT_WRITE_KEYS to serve them')
    return
  }
  const bodyLimit = Math.min(config.bodyLimit, REQUEST_LIMIT)

  // The SDKs do not all say JSON: analytics.js sends text/plain (no CORS preflight), the
  // RudderStack Node SDK gzip with x-www-form-urlencoded. Here, any type is read as JSON.
  app.addContentTypeParser('*', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
  // gzip (RudderStack's default), decoded as it arrives: the body limit holds for the decoded
  // bytes (Fastify counts what this stream yields), so a small bomb cannot grow past it
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase()
    if (encoding === undefined || encoding === '' || encoding === 'identity') return payload
    if (encoding !== 'gzip') {
      throw Object.assign(new Error(`content-encoding ${encoding} is not taken here (gzip is, or none)`), { statusCode: 415, code: 'JETWAY_UNSUPPORTED_ENCODING' })
    }
    const gunzip = createGunzip()
    // registered before the parser's own listener, so it reads the error as a 400
    gunzip.once('error', err => Object.assign(err, { statusCode: 400, code: 'JETWAY_BAD_REQUEST', message: `the body is not valid gzip (${err.message})` }))
    let encoded = 0
    payload.on('data', (chunk: Buffer) => { encoded += chunk.length; Object.assign(gunzip, { receivedEncodedLength: encoded }) })
    payload.on('error', err => gunzip.destroy(err))
    return payload.pipe(gunzip)
  })

  const actors = new WeakMap<FastifyRequest, string | undefined>()
  const authorize = async (request: FastifyRequest): Promise<void> => {
    actors.set(request, keys.check(request, (request.body as { writeKey?: unknown } | null | undefined)?.writeKey))
  }

  /** Maps and appends one valid message; the field errors name fields inside the message. */
  async function collectMessage (request: FastifyRequest, type: SdkMessageType, message: SdkMessage, env: Envelope): Promise<Outcome> {
    const data = toCollectEventV2(type, message, env, randomUUID)
    if (Array.isArray(data)) return data
    const appended = await appendCollected(js, {
      def: Events.collectEventReceivedV2,
      data,
      source: SOURCE,
      actor: actors.get(request),
      correlationId: request.id,
      time: env.receivedAt
    })
    return { status: appended.duplicate ? 'duplicate' : 'accepted', seq: appended.seq }
  }

  for (const type of SdkMessageTypes) {
    app.post(`/v1/${type}`, {
      config: FAILURE,
      bodyLimit,
      preValidation: authorize,
      schema: {
        tags: ['tracking'],
        summary: `One ${type} message of an analytics SDK (Segment's tracking API); idempotent per user and messageId`,
        body: MessageSchemas[type],
        response: { 200: TrackingResponse }
      }
    }, async (request: FastifyRequest, reply: FastifyReply) => {
      const message = request.body as SdkMessage
      const tooBig = sizeError(message, '(body)')
      if (tooBig !== undefined) throw new JetwayError(ErrorCodes.validation, `the message ${tooBig.message}`, [tooBig])
      const outcome = await collectMessage(request, type, message, { receivedAt: clock.now() })
      if (Array.isArray(outcome)) throw new JetwayError(ErrorCodes.validation, `invalid ${type} message: ${outcome.map(e => `${e.field} ${e.message}`).join('; ')}`, outcome)
      sendSeq(reply, 'COLLECT', outcome.seq)
      reply.header(DUPLICATE_HEADER, String(outcome.status === 'duplicate'))
      return { success: true as const }
    })
  }

  const batch = async (request: FastifyRequest, reply: FastifyReply): Promise<TrackingResponse> => {
    const body = request.body as BatchBody
    const env = envelopeOf({ receivedAt: clock.now(), sentAt: body.sentAt, context: body.context, integrations: body.integrations })
    if (Array.isArray(env)) throw new JetwayError(ErrorCodes.validation, `invalid batch: ${env.map(e => `${e.field} ${e.message}`).join('; ')}`, env)
    const outcomes = await mapLimit(body.batch, BATCH_IN_FLIGHT, async (raw, i): Promise<Outcome> => {
      const at = `batch.${i}`
      const tooBig = sizeError(raw, at)
      if (tooBig !== undefined) return [tooBig]
      const type = (raw as { type?: unknown } | null)?.type
      if (!isType(type)) return [{ field: `${at}.type`, message: `must be one of ${SdkMessageTypes.join(', ')}` }]
      const checked = validators[type](raw, at)
      if (!checked.ok) return checked.errors
      const outcome = await collectMessage(request, type, checked.value, env)
      return Array.isArray(outcome) ? outcome.map(e => ({ ...e, field: `${at}.${e.field}` })) : outcome
    })
    const maxSeq = Math.max(0, ...outcomes.map(o => Array.isArray(o) ? 0 : o.seq))
    if (maxSeq > 0) sendSeq(reply, 'COLLECT', maxSeq)
    const refused = outcomes.filter(o => Array.isArray(o))
    if (refused.length === 0) return { success: true }
    const errors = refused.flat()
    // a 4xx stores nothing: refused whole, the batch is a 400 naming each message; else the
    // stored ones are answered 200 with the refused ones named, as /api/collect/batch does
    if (refused.length === outcomes.length) {
      throw new JetwayError(ErrorCodes.validation,
        `every message refused: ${errors.slice(0, 3).map(e => `${e.field} ${e.message}`).join('; ')}${errors.length > 3 ? '; …' : ''}`, errors)
    }
    const stored = outcomes.filter((o): o is Stored => !Array.isArray(o))
    return {
      success: false,
      accepted: stored.filter(o => o.status === 'accepted').length,
      duplicates: stored.filter(o => o.status === 'duplicate').length,
      rejected: refused.length,
      errors
    }
  }
  const batchRoute = {
    config: { ...FAILURE, ...openapiDocs({ body: BatchBodyDoc }) },
    bodyLimit,
    preValidation: authorize,
    schema: {
      tags: ['tracking'],
      summary: 'Many messages of an analytics SDK at once (at most 2,500, 32 KB each, 500 KB in all); a bad message is refused alone',
      body: BatchBody,
      response: { 200: TrackingResponse }
    }
  }
  app.post('/v1/batch', batchRoute, batch)
  app.post('/v1/import', { ...batchRoute, schema: { ...batchRoute.schema, summary: 'The same as /v1/batch (Segment\'s historical import)' } }, batch)
}

/**
 * Segment's 32 KB a message, in bytes of its JSON. (JSON nested too deeply to store never gets
 * here: the edge refuses any body nested past MAX_JSON_DEPTH, src/api/http/edge.ts.)
 */
function sizeError (message: unknown, field: string): FieldError | undefined {
  const size = Buffer.byteLength(JSON.stringify(message) ?? 'null')
  if (size <= MESSAGE_LIMIT) return undefined
  return { field, message: `is ${size.toLocaleString('en-US')} bytes of JSON; a message may have at most 32 KB (${MESSAGE_LIMIT.toLocaleString('en-US')} bytes)` }
}
