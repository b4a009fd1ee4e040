import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { HTTP, type CloudEvent } from 'cloudevents'
import sjson from 'secure-json-parse'
import { appendEvent, keyOf } from '../store/events.js'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { Events } from '../schema/events/index.js'
import type { EventStatus } from '../schema/events/jobs.js'
import { CloudEventBody, EventGridEvent, IntakeResponse, ValidationResponse } from '../schema/api/jobs.js'
import { openapiDocs } from './http/openapi.js'
import { Subjects } from '../store/subjects.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { findJob } from '../projections/jobs.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { bodyValidator } from './http/validation.js'
import { EventDesc, JobId, SourceId, SourceType } from '../schema/api/fields.js'

// Completion intake, POST /noti/events, for the system that runs the jobs: Azure Event Grid
// (a JSON array, with its subscription-validation handshake) and CloudEvents 1.0 in
// structured, batch and binary mode (with the OPTIONS abuse-protection handshake).
// A completion names a job JOBS holds, or it is refused at once with a 404 naming it (as
// /noti/complete/{eventId} does): the sender can act on that, while a stored completion for a
// job never requested was only retried by the completion worker and dead-lettered.

export interface IntakeOptions {
  runtime: Runtime
  auth: Auth
}

/** What one received event says about a job. */
export interface Completion {
  eventId: string
  eventStatus: EventStatus
  eventDesc: string
  sourceId: string
  sourceType: string
  /** the field that named the job: data.eventId, else the event's id */
  jobField: string
}

const SUCCESS = new Set(['y', 'success', 'succeeded', 'completed', 'complete', 'ok'])
const FAILURE = new Set(['n', 'failed', 'failure', 'error', 'fail'])

// The same field checks as the HTTP schemas: an id that will be a subject token and a
// Nats-Msg-Id, a description as long as /noti/complete takes, nothing truncated in silence.
const checkJobId = bodyValidator(JobId)
const checkSourceId = bodyValidator(SourceId)
const checkSourceType = bodyValidator(SourceType)
const checkDesc = bodyValidator(EventDesc)

/** Names of an event's fields in its format, for the errors of a 400. */
export interface FieldNames {
  id: string
  type: string
}
const EVENT_GRID: FieldNames = { id: 'id', type: 'eventType' }
const CLOUDEVENTS: FieldNames = { id: 'id', type: 'type' }

/**
 * Reads a completion from an event's id, type, subject and data. Pure. The job is
 * `data.eventId`, else the event's id (the seed publishes with id = eventId); the outcome is
 * the type's suffix (`…CompleteEvent` / `…FailEvent`) or `data.status`. Every field that
 * becomes part of the event is checked as the HTTP schemas check it; `at` prefixes the names.
 */
export function completionOf (ev: { id: unknown, type: unknown, data: unknown }, at: string, names: FieldNames = EVENT_GRID): Completion | FieldError[] {
  const field = (name: string): string => at === '' ? name : `${at}.${name}`
  const data = (typeof ev.data === 'object' && ev.data !== null ? ev.data : {}) as Record<string, unknown>
  const errors: FieldError[] = []
  const check = <T>(validate: ReturnType<typeof bodyValidator>, value: unknown, name: string): T | undefined => {
    const checked = validate(value, field(name))
    if (checked.ok) return checked.value as T
    errors.push(...checked.errors)
    return undefined
  }
  const asId = (v: unknown): unknown => typeof v === 'number' && Number.isFinite(v) ? String(v) : v
  const given = (v: unknown): boolean => v !== undefined && v !== null && v !== ''
  const sourceId = given(ev.id) ? check<string>(checkSourceId, asId(ev.id), names.id) : undefined
  let eventId: string | undefined
  if (given(data.eventId)) eventId = check<string>(checkJobId, asId(data.eventId), 'data.eventId')
  else if (sourceId !== undefined) eventId = check<string>(checkJobId, sourceId, names.id)
  else if (!given(ev.id)) errors.push({ field: field('data.eventId'), message: `names no job (data.eventId or ${names.id})` })
  const type = given(ev.type) ? check<string>(checkSourceType, ev.type, names.type) ?? '' : ''
  const status = typeof data.status === 'string' ? data.status.toLowerCase() : typeof data.eventStatus === 'string' ? data.eventStatus.toLowerCase() : undefined
  let eventStatus: EventStatus | undefined
  if (/CompleteEvent$|Completed?$|Succeeded$/i.test(type) || (status !== undefined && SUCCESS.has(status))) eventStatus = 'Y'
  if (/FailEvent$|Failed$/i.test(type) || (status !== undefined && FAILURE.has(status))) eventStatus = 'N'
  if (eventStatus === undefined && !errors.some(e => e.field === field(names.type))) {
    errors.push({ field: field(names.type), message: 'says neither success nor failure (…CompleteEvent / …FailEvent, or data.status Y/N)' })
  }
  const descField = ['desc', 'reason', 'eventDesc'].find(k => data[k] !== undefined && data[k] !== null) ?? 'desc'
  const rawDesc = data[descField] ?? ''
  const eventDesc = check<string>(checkDesc, typeof rawDesc === 'string' ? rawDesc : JSON.stringify(rawDesc), `data.${descField}`)
  if (errors.length > 0 || eventId === undefined || eventStatus === undefined || eventDesc === undefined) return errors
  return { eventId, eventStatus, eventDesc, sourceId: sourceId ?? eventId, sourceType: type, jobField: field(given(data.eventId) ? 'data.eventId' : names.id) }
}

const CE_TYPES = ['application/cloudevents+json', 'application/cloudevents-batch+json']
const EG_VALIDATION = 'Microsoft.EventGrid.SubscriptionValidationEvent'

export const intake: FastifyPluginAsyncTypebox<IntakeOptions> = async (app, { runtime, auth }) => {
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

  const guard = intakeGuard(auth, config.jobs.intakeKey)
  app.addHook('onRequest', async request => { if (request.method !== 'OPTIONS') await guard(request) })

  // CloudEvents webhook abuse protection (the HTTP 1.1 Web Hooks spec Event Grid also uses).
  app.options('/noti/events', {
    schema: { tags: ['intake'], summary: 'The CloudEvents webhook abuse-protection handshake (WebHook-Request-Origin)', security: [] },
    config: openapiDocs({ responses: { 200: { description: 'WebHook-Allowed-Origin and WebHook-Allowed-Rate echo the origin' } } })
  }, async (request, reply) => {
    const origin = request.headers['webhook-request-origin']
    // echoed in a header: a value that could not be sent back (a CR, LF or other control
    // character) would fail the answer with a 500, so it is refused as what it is, no host name
    if (typeof origin === 'string' && !/^[\x21-\x7e]{1,255}$/.test(origin)) {
      throw new JetwayError(ErrorCodes.validation, 'WebHook-Request-Origin must be a host name', [{ field: 'WebHook-Request-Origin', message: 'must be a host name (printable ASCII, no spaces)' }])
    }
    if (typeof origin === 'string') {
      reply.header('webhook-allowed-origin', origin)
      reply.header('webhook-allowed-rate', '*')
    }
    reply.header('allow', 'POST, OPTIONS')
    return await reply.code(200).send()
  })

  app.post('/noti/events', {
    config: openapiDocs({
      body: Type.Union([Type.Array(EventGridEvent), CloudEventBody, Type.Array(CloudEventBody)]),
      consumes: ['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json']
    }),
    schema: { tags: ['intake'], summary: 'Complete jobs: Azure Event Grid events (with its validation handshake) or CloudEvents 1.0 (structured, batch, binary)', response: { 200: Type.Union([IntakeResponse, ValidationResponse]) } }
  }, async (request, reply) => {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    const isCloudEvent = CE_TYPES.includes(contentType) || request.headers['ce-specversion'] !== undefined
    const events: { id: unknown, type: unknown, data: unknown, source?: string }[] = []
    const names = isCloudEvent ? CLOUDEVENTS : EVENT_GRID
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
      const c = completionOf(ev, events.length === 1 && !Array.isArray(request.body) ? '' : `${i}`, names)
      if (Array.isArray(c)) errors.push(...c)
      else completions.push(c)
    })
    // an event that says nothing usable can never succeed: tell the sender now, append nothing
    if (errors.length > 0) throw new JetwayError(ErrorCodes.validation, `invalid events: ${errors.map(e => `${e.field} ${e.message}`).join('; ')}`, errors)
    // all or nothing, as above: a batch naming a job never requested is refused whole
    const unknown = await unknownJobs(runtime, completions.map(c => c.eventId))
    if (unknown.size > 0) {
      const notFound: FieldError[] = completions.filter(c => unknown.has(c.eventId))
        .map(c => ({ field: c.jobField, message: `names job ${c.eventId}, which was never requested` }))
      throw new JetwayError(ErrorCodes.notFound, `no job ${[...unknown].join(', ')}: nothing stored`, notFound)
    }
    await Promise.all(completions.map(async (c, i) => await appendEvent(js, {
      def: Events.jobCompleted,
      data: { eventId: c.eventId, eventStatus: c.eventStatus, eventDesc: c.eventDesc, origin: 'intake', sourceId: c.sourceId, sourceType: c.sourceType },
      subject: Subjects.jobCompleted(c.eventId),
      source: '/jetway/noti/events',
      about: c.eventId,
      // Event Grid and CloudEvents senders redeliver with the same id
      idempotencyKey: keyOf('intake', events[i]!.source ?? '', c.sourceId),
      correlationId: request.id,
      time: clock.now()
    })))
    return { accepted: completions.length }
  })
}

/**
 * The jobs of these ids that were never requested: JOBS holds no job.requested for them. The
 * read model answers for the jobs it has; JOBS (the job's request subject) for the rest, so a
 * job requested a moment ago, not yet projected, counts as known.
 */
export async function unknownJobs (runtime: Pick<Runtime, 'db' | 'jsm'>, eventIds: readonly string[]): Promise<Set<string>> {
  const unknown = new Set<string>()
  await Promise.all([...new Set(eventIds)].map(async eventId => {
    if (await findJob(runtime.db, eventId) !== undefined) return
    if (await lastOnSubject(runtime.jsm, 'JOBS', Subjects.jobRequested(eventId)) === null) unknown.add(eventId)
  }))
  return unknown
}

/**
 * Who may report a job's outcome. INTAKE_KEY, when set, as the X-Intake-Key header or ?key=
 * (what a webhook URL can carry); in `jwt` mode also a Bearer token whose role is `service`
 * or `admin`, and nothing else: without INTAKE_KEY the intake is token-only, never open.
 * In `off` mode without INTAKE_KEY the intake is open, like the rest of the API.
 */
export function intakeGuard (auth: Auth, intakeKey: string | undefined): (request: FastifyRequest) => Promise<void> {
  const expected = intakeKey === undefined ? undefined : digest(intakeKey)
  return async request => {
    const given = request.headers['x-intake-key'] ?? (request.query as Record<string, unknown> | undefined)?.key
    if (expected !== undefined && given !== undefined) {
      if (typeof given === 'string' && timingSafeEqual(digest(given), expected)) return
      throw new JetwayError(ErrorCodes.unauthorized, 'wrong intake key (X-Intake-Key header or ?key=)')
    }
    if (auth.mode === 'jwt' && request.headers.authorization !== undefined) {
      await auth.requireRole(request, INTAKE_ROLES)
      return
    }
    if (expected === undefined && auth.mode === 'off') return
    throw new JetwayError(ErrorCodes.unauthorized, auth.mode === 'off'
      ? 'intake key missing (X-Intake-Key header or ?key=)'
      : `the intake needs ${expected === undefined ? '' : 'the intake key (X-Intake-Key header or ?key=) or '}a Bearer token with role ${INTAKE_ROLES.join(' or ')}`)
  }
}

const INTAKE_ROLES = ['service', 'admin'] as const

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
