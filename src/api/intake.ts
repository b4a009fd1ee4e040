import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { HTTP, type CloudEvent } from 'cloudevents'
import sjson from 'secure-json-parse'
import { appendEvent } from '../store/events.js'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { Events } from '../schema/events/index.js'
import type { EventStatus } from '../schema/events/jobs.js'
import { IntakeResponse, ValidationResponse } from '../schema/api/jobs.js'
import { Subjects } from '../store/subjects.js'
import type { Runtime } from '../runtime.js'

// Completion intake, POST /noti/events, for the system that runs the jobs: Azure Event Grid
// (a JSON array, with its subscription-validation handshake) and CloudEvents 1.0 in
// structured, batch and binary mode (with the OPTIONS abuse-protection handshake).

export interface IntakeOptions {
  runtime: Runtime
}

/** What one received event says about a job. */
export interface Completion {
  eventId: string
  eventStatus: EventStatus
  eventDesc: string
  sourceId: string
  sourceType: string
}

const SUCCESS = new Set(['y', 'success', 'succeeded', 'completed', 'complete', 'ok'])
const FAILURE = new Set(['n', 'failed', 'failure', 'error', 'fail'])

/**
 * Reads a completion from an event's id, type, subject and data. Pure. The job is
 * `data.eventId`, else the event's id (the seed publishes with id = eventId); the outcome is
 * the type's suffix (`…CompleteEvent` / `…FailEvent`) or `data.status`.
 */
export function completionOf (ev: { id: unknown, type: unknown, data: unknown }, at: string): Completion | FieldError[] {
  const data = (typeof ev.data === 'object' && ev.data !== null ? ev.data : {}) as Record<string, unknown>
  const type = typeof ev.type === 'string' ? ev.type : ''
  const idOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '') || typeof v === 'number' ? String(v) : undefined
  const eventId = idOf(data.eventId) ?? idOf(ev.id)
  const status = typeof data.status === 'string' ? data.status.toLowerCase() : typeof data.eventStatus === 'string' ? data.eventStatus.toLowerCase() : undefined
  let eventStatus: EventStatus | undefined
  if (/CompleteEvent$|Completed?$|Succeeded$/i.test(type) || (status !== undefined && SUCCESS.has(status))) eventStatus = 'Y'
  if (/FailEvent$|Failed$/i.test(type) || (status !== undefined && FAILURE.has(status))) eventStatus = 'N'
  const errors: FieldError[] = []
  if (eventId === undefined || eventId.length > 128) errors.push({ field: `${at}.data.eventId`, message: 'names no job (data.eventId or id, at most 128 characters)' })
  if (eventStatus === undefined) errors.push({ field: `${at}.eventType`, message: 'says neither success nor failure (…CompleteEvent / …FailEvent, or data.status Y/N)' })
  if (errors.length > 0 || eventId === undefined || eventStatus === undefined) return errors
  const desc = data.desc ?? data.reason ?? data.eventDesc ?? ''
  return {
    eventId,
    eventStatus,
    eventDesc: (typeof desc === 'string' ? desc : JSON.stringify(desc)).slice(0, 2000),
    sourceId: idOf(ev.id) ?? eventId,
    sourceType: type.slice(0, 256)
  }
}

const CE_TYPES = ['application/cloudevents+json', 'application/cloudevents-batch+json']
const EG_VALIDATION = 'Microsoft.EventGrid.SubscriptionValidationEvent'

export const intake: FastifyPluginAsyncTypebox<IntakeOptions> = async (app, { runtime }) => {
  const { js, clock, config } = runtime
  const rawBodies = new WeakMap<FastifyRequest, string>()
  // The CloudEvents SDK wants the body as sent, so this scope keeps it beside the parsed JSON.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(['application/json', ...CE_TYPES], { parseAs: 'string' }, (request, body, done) => {
    rawBodies.set(request, body as string)
    try {
      done(null, sjson.parse(body as string))
    } catch (err) {
      done(Object.assign(new JetwayError(ErrorCodes.validation, `malformed JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }])), undefined)
    }
  })

  app.addHook('onRequest', async request => { if (request.method !== 'OPTIONS') requireIntakeKey(request, config.jobs.intakeKey) })

  // CloudEvents webhook abuse protection (the HTTP 1.1 Web Hooks spec Event Grid also uses).
  app.options('/noti/events', async (request, reply) => {
    const origin = request.headers['webhook-request-origin']
    if (typeof origin === 'string') {
      reply.header('webhook-allowed-origin', origin)
      reply.header('webhook-allowed-rate', '*')
    }
    reply.header('allow', 'POST, OPTIONS')
    return await reply.code(200).send()
  })

  app.post('/noti/events', {
    schema: { response: { 200: Type.Union([IntakeResponse, ValidationResponse]) } }
  }, async (request, reply) => {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    const isCloudEvent = CE_TYPES.includes(contentType) || request.headers['ce-specversion'] !== undefined
    const events: { id: unknown, type: unknown, data: unknown, source?: string }[] = []
    if (isCloudEvent) {
      let parsed: CloudEvent | CloudEvent[]
      try {
        parsed = HTTP.toEvent({ headers: request.headers as Record<string, string>, body: rawBodies.get(request) ?? '' }) as CloudEvent | CloudEvent[]
      } catch (err) {
        throw new JetwayError(ErrorCodes.validation, `not a valid CloudEvent: ${(err as Error).message}`, [{ field: '(body)', message: (err as Error).message }])
      }
      for (const ce of Array.isArray(parsed) ? parsed : [parsed]) events.push({ id: ce.id, type: ce.type, data: ce.data, source: ce.source })
    } else {
      const body = request.body
      const list = Array.isArray(body) ? body : [body]
      for (const item of list) {
        if (typeof item !== 'object' || item === null) throw new JetwayError(ErrorCodes.validation, 'an Event Grid event must be an object', [{ field: '(body)', message: 'must be an array of Event Grid events' }])
        const eg = item as Record<string, unknown>
        if (eg.eventType === EG_VALIDATION) {
          const code = (eg.data as { validationCode?: unknown } | undefined)?.validationCode
          if (typeof code !== 'string') throw new JetwayError(ErrorCodes.validation, 'validation event without data.validationCode', [{ field: 'data.validationCode', message: 'is required' }])
          return await reply.code(200).send({ validationResponse: code })
        }
        events.push({ id: eg.id, type: eg.eventType, data: eg.data, source: typeof eg.topic === 'string' ? eg.topic : 'eventgrid' })
      }
    }
    if (events.length === 0 || events.length > 1000) throw new JetwayError(ErrorCodes.validation, 'send 1 to 1000 events', [{ field: '(body)', message: 'must hold 1 to 1000 events' }])
    const completions: Completion[] = []
    const errors: FieldError[] = []
    events.forEach((ev, i) => {
      const c = completionOf(ev, events.length === 1 && !Array.isArray(request.body) ? '(event)' : `${i}`)
      if (Array.isArray(c)) errors.push(...c)
      else completions.push(c)
    })
    // an event that says nothing usable can never succeed: tell the sender now, append nothing
    if (errors.length > 0) throw new JetwayError(ErrorCodes.validation, 'events that name no job or no outcome', errors)
    await Promise.all(completions.map(async (c, i) => await appendEvent(js, {
      def: Events.jobCompleted,
      data: { eventId: c.eventId, eventStatus: c.eventStatus, eventDesc: c.eventDesc, origin: 'intake', sourceId: c.sourceId, sourceType: c.sourceType },
      subject: Subjects.jobCompleted(c.eventId),
      source: '/jetway/noti/events',
      about: c.eventId,
      // Event Grid and CloudEvents senders redeliver with the same id
      idempotencyKey: `intake:${events[i]!.source ?? ''}:${c.sourceId}`,
      correlationId: request.id,
      time: clock.now()
    })))
    return { accepted: completions.length }
  })
}

/** INTAKE_KEY, when set, as the X-Intake-Key header or ?key= (what a webhook URL can carry). */
export function requireIntakeKey (request: FastifyRequest, intakeKey: string | undefined): void {
  if (intakeKey === undefined) return
  const key = request.headers['x-intake-key'] ?? (request.query as Record<string, unknown> | undefined)?.key
  if (key !== intakeKey) throw new JetwayError(ErrorCodes.unauthorized, 'intake key missing or wrong (X-Intake-Key header or ?key=)')
}
