import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  BatchRequest, BatchResponse, CollectRequest, CollectResponse, SearchBody, SearchByUserQuery,
  SearchQuery, SearchResponse, UserParams, type BatchItemResult
} from '../schema/api/collect.js'
import type { SearchResponse as SearchResult } from '../schema/api/collect.js'
import { Events, type EventData } from '../schema/events/index.js'
import type { CollectEventReceived } from '../schema/events/collect.js'
import { appendEvent, keyOf, type Appended } from '../store/events.js'
import type { JetStreamClient } from '@nats-io/jetstream'
import { Subjects } from '../store/subjects.js'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { microTimeOf, toMicroTime } from '../lib/time.js'
import { mapLimit } from '../lib/concurrency.js'
import { decodeCursor } from '../projections/collect-search.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { bodyValidator } from './http/validation.js'

// The event collector of seed 002: POST /api/collect and /api/event append one
// collect.event.received to COLLECT and answer {"is_success": true}; search reads the
// collect-events read model.

export interface CollectOptions {
  runtime: Runtime
  auth: Auth
}

const SEED_FAILURE = { problemExtras: { is_success: false } }
const DUPLICATE_HEADER = 'jetway-duplicate'
/** appends of one batch request in flight at once */
export const BATCH_IN_FLIGHT = 256

/**
 * Appends one collected event (the seed's v1, or an SDK message's v2) on its user's subject.
 * An event_id is unique per user: one user cannot suppress another's events by reusing an id.
 * Inside the duplicate window JetStream drops a repeat (ack.duplicate); past it a repeat is
 * appended again and the read model, unique on (user_id, event_id), keeps the first. A
 * read-model look-up here would catch those too, but costs a third of the ingest rate.
 */
export async function appendCollected<D extends typeof Events.collectEventReceived | typeof Events.collectEventReceivedV2> (js: JetStreamClient, ev: {
  def: D
  data: EventData<D>
  source: string
  actor: string | undefined
  correlationId: string
  time: Date
}): Promise<Appended> {
  const data: CollectEventReceived = ev.data
  return await appendEvent(js, {
    ...ev,
    subject: Subjects.collect(data.user_id, data.event),
    about: data.user_id,
    idempotencyKey: keyOf('collect', data.user_id, data.event_id)
  })
}

/** The event a valid request becomes, or the fields that stop it. Pure. */
export function toCollectEvent (input: CollectRequest, receivedAt: string): CollectEventReceived | FieldError[] {
  let eventDatetime = receivedAt
  if (input.event_datetime !== undefined) {
    const parsed = toMicroTime(input.event_datetime)
    if (parsed === undefined) return [{ field: 'event_datetime', message: 'must be an ISO 8601 date-time' }]
    eventDatetime = parsed
  }
  return {
    event_id: input.event_id,
    event: input.event,
    user_id: input.user_id,
    parameters: input.parameters ?? null,
    event_datetime: eventDatetime,
    received_at: receivedAt
  }
}

export const collect: FastifyPluginAsyncTypebox<CollectOptions> = async (app, { runtime, auth }) => {
  const { js, clock, config } = runtime
  app.addHook('onRequest', auth.authenticate)

  async function collectOne (request: FastifyRequest, input: CollectRequest): Promise<{ status: 'accepted' | 'duplicate', seq?: number } | FieldError[]> {
    auth.requireUser(request, input.user_id)
    runtime.suppressions.refuse(input.user_id, 'user_id')
    const data = toCollectEvent(input, microTimeOf(clock.now()))
    if (Array.isArray(data)) return data
    const appended = await appendCollected(js, {
      def: Events.collectEventReceived,
      data,
      source: '/jetway/collect',
      actor: auth.identity(request).userId,
      correlationId: request.id,
      time: clock.now()
    })
    return { status: appended.duplicate ? 'duplicate' : 'accepted', seq: appended.seq }
  }

  const single = async (request: FastifyRequest<{ Body: CollectRequest }>, reply: FastifyReply): Promise<{ is_success: boolean }> => {
    const result = await collectOne(request, request.body)
    if (Array.isArray(result)) throw new JetwayError(ErrorCodes.validation, 'invalid event', result)
    if (result.seq !== undefined) sendSeq(reply, 'COLLECT', result.seq)
    reply.header(DUPLICATE_HEADER, String(result.status === 'duplicate'))
    return { is_success: true }
  }
  const singleRoute = { config: SEED_FAILURE, bodyLimit: 64 * 1024, schema: { tags: ['collect'], summary: 'Collect one event (the seed\'s answer; idempotent per user and event_id)', body: CollectRequest, response: { 200: CollectResponse } } }
  app.post('/api/collect', singleRoute, single)
  app.post('/api/event', singleRoute, single)

  const validateEvent = bodyValidator(CollectRequest)
  app.post('/api/collect/batch', {
    config: SEED_FAILURE,
    bodyLimit: Math.min(config.bodyLimit, 1024 * 1024),
    schema: { tags: ['collect'], summary: 'Collect up to 1000 events (1 MiB) at once; a bad event is rejected alone', body: BatchRequest, response: { 200: BatchResponse } }
  }, async (request, reply) => {
    const results = await mapLimit(request.body.events, BATCH_IN_FLIGHT, async (raw, index): Promise<BatchItemResult> => {
      const eventId = typeof (raw as { event_id?: unknown })?.event_id === 'string' ? (raw as { event_id: string }).event_id : undefined
      const checked = validateEvent(raw, `events.${index}`)
      if (!checked.ok) return { index, event_id: eventId, status: 'rejected', errors: checked.errors }
      try {
        const outcome = await collectOne(request, checked.value)
        if (Array.isArray(outcome)) {
          return { index, event_id: eventId, status: 'rejected', errors: outcome.map(e => ({ ...e, field: `events.${index}.${e.field}` })) }
        }
        return { index, event_id: eventId, ...outcome }
      } catch (err) {
        if (err instanceof JetwayError && (err.code === ErrorCodes.forbidden || err.code === ErrorCodes.suppressed)) {
          return { index, event_id: eventId, status: 'rejected', errors: [{ field: `events.${index}.user_id`, message: err.message }] }
        }
        throw err
      }
    })
    const count = (s: BatchItemResult['status']): number => results.filter(r => r.status === s).length
    const maxSeq = Math.max(0, ...results.map(r => r.seq ?? 0))
    if (maxSeq > 0) sendSeq(reply, 'COLLECT', maxSeq)
    return { is_success: count('rejected') === 0, accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected'), results }
  })

  /** the page as JSON text, from runtime.reads (a read thread, or this thread: read-pool.ts) */
  async function search (request: FastifyRequest, reply: FastifyReply, q: SearchBody): Promise<SearchResult> {
    auth.requireUser(request, q.user_id)
    await waitForProjection(runtime, 'collect-events', request, q.min_seq)
    const errors: FieldError[] = []
    const time = (field: 'from' | 'to'): string | undefined => {
      const value = q[field]
      if (value === undefined) return undefined
      const parsed = toMicroTime(value)
      if (parsed === undefined) errors.push({ field, message: 'must be an ISO 8601 date-time' })
      return parsed
    }
    const from = time('from')
    const to = time('to')
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
    if (after === null) errors.push({ field: 'cursor', message: 'is not a cursor this API returned' })
    if (errors.length > 0) throw new JetwayError(ErrorCodes.validation, 'invalid search', errors)
    const body = await runtime.reads.search({ userId: q.user_id, event: q.event, from, to, after: after ?? undefined, limit: q.limit })
    // JSON text with a JSON content type goes out as it is, not serialized again: the type
    // is the shape of that text, as SearchResponse documents it
    reply.type('application/json; charset=utf-8')
    return body as unknown as SearchResult
  }
  const searchResponse = { 200: SearchResponse }
  app.post('/api/search', { schema: { tags: ['collect'], summary: 'Search a user\'s events (oldest first, paged)', body: SearchBody, response: searchResponse } }, async (request, reply) => await search(request, reply, request.body))
  app.get('/api/event', { schema: { tags: ['collect'], summary: 'Search a user\'s events (oldest first, paged)', querystring: SearchQuery, response: searchResponse } }, async (request, reply) => await search(request, reply, request.query))
  app.get('/api/event/:user_id', { schema: { tags: ['collect'], summary: 'A user\'s events (oldest first, paged)', params: UserParams, querystring: SearchByUserQuery, response: searchResponse } },
    async (request, reply) => await search(request, reply, { ...request.query, user_id: request.params.user_id }))
}
