import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FieldError } from '../lib/errors.js'
import { microTimeOf, toMicroTime } from '../lib/time.js'
import { EventName, Parameters, type CollectEventReceivedV2, type SdkMessageType } from '../schema/events/collect.js'
import type { SdkMessage } from '../schema/api/tracking.js'

// An analytics SDK message (the Segment tracking API, which RudderStack speaks too) as the
// collector's one event, collect.event.received v2. Pure: the route validates the message's
// shape first (src/schema/api/tracking.ts) and appends what this returns.
//
//   user_id         userId, else anonymousId
//   event_id        messageId (an id of our own, `api-<uuid>`, when the message has none)
//   event           track: `event`; page/screen: `page:<name>` / `screen:<name>` (without a
//                   name: `page` / `screen`); identify, group, alias: the type
//   parameters      track, page, screen: `properties`; identify: `traits`;
//                   group: `traits` and its `groupId`; alias: `{previousId}`
//   event_datetime  Segment's clock-skew correction: the message's timestamp (else its
//                   originalTimestamp) + (receivedAt − sentAt) when it has a sentAt (its own,
//                   else the batch's); without a sentAt the timestamp as sent; without a
//                   timestamp, when Jetway received it
//   anonymous_id, context, integrations   as sent; a batch's context and integrations are
//                   merged into each message's (the message's own keys win)

/** A time as sent, read: its milliseconds, and the seed's format. */
interface Instant {
  text: string
  ms: number
  micro: string
}

/** What a request adds to each of its messages (envelopeOf() makes it). */
export interface Envelope {
  /** when Jetway received the request */
  receivedAt: Date
  /** the batch's sentAt, when the message has none */
  sentAt?: Instant
  context?: Record<string, unknown> | null
  integrations?: Record<string, unknown> | null
}

/** A request's envelope, its sentAt read once for all its messages; or the field that stops it. */
export function envelopeOf (input: { receivedAt: Date, sentAt?: string, context?: Record<string, unknown> | null, integrations?: Record<string, unknown> | null }): Envelope | FieldError[] {
  const sentAt = input.sentAt === undefined ? undefined : instantOf(input.sentAt)
  if (sentAt === null) return [{ field: 'sentAt', message: 'must be an ISO 8601 date-time' }]
  return { ...input, sentAt }
}

const checkName = TypeCompiler.Compile(EventName)
const checkParameters = TypeCompiler.Compile(Parameters)

/** The event of one message, or the fields that stop it (named inside the message). */
export function toCollectEventV2 (type: SdkMessageType, m: SdkMessage, env: Envelope, newId: () => string): CollectEventReceivedV2 | FieldError[] {
  const errors: FieldError[] = []
  const userId = nonEmpty(m.userId) ?? nonEmpty(m.anonymousId)
  if (userId === undefined) errors.push({ field: 'userId', message: 'is required (or anonymousId)' })

  const event = eventNameOf(type, m)
  if (!checkName.Check(event)) errors.push({ field: 'name', message: `makes the event name ${JSON.stringify(event)}, longer than ${EventName.maxLength!} characters` })

  const [from, parameters] = parametersOf(type, m)
  if (!checkParameters.Check(parameters)) {
    errors.push({ field: from, message: `has more than ${Parameters.anyOf[1].maxProperties! - (type === 'group' ? 1 : 0)} keys` })
  }

  const time = eventTimeOf(m, env)
  if (Array.isArray(time)) errors.push(...time)
  if (errors.length > 0 || userId === undefined || Array.isArray(time)) return errors

  const context = merged(env.context, m.context)
  const integrations = merged(env.integrations, m.integrations)
  return {
    event_id: m.messageId ?? `api-${newId()}`,
    event,
    user_id: userId,
    parameters,
    event_datetime: time,
    received_at: microTimeOf(env.receivedAt),
    anonymous_id: nonEmpty(m.anonymousId) ?? null,
    context,
    integrations,
    sdk: { type, timestamp: m.timestamp ?? m.originalTimestamp ?? null, sent_at: m.sentAt ?? env.sentAt?.text ?? null }
  }
}

function nonEmpty (id: string | null | undefined): string | undefined {
  return id === null || id === undefined || id === '' ? undefined : id
}

function eventNameOf (type: SdkMessageType, m: SdkMessage): string {
  if (type === 'track') return (m as { event: string }).event
  if (type === 'page' || type === 'screen') {
    const name = (m as { name?: string }).name
    return name === undefined || name === '' ? type : `${type}:${name}`
  }
  return type
}

/** The parameters of a message, and the field they come from (what an error names). */
function parametersOf (type: SdkMessageType, m: SdkMessage): [string, Parameters] {
  const o = m as { properties?: Parameters, traits?: Parameters, groupId?: string | number, previousId?: string | number }
  switch (type) {
    case 'identify': return ['traits', o.traits ?? null]
    case 'group': return ['traits', { ...o.traits, groupId: o.groupId } as Parameters]
    case 'alias': return ['previousId', { previousId: o.previousId } as Parameters]
    default: return ['properties', o.properties ?? null]
  }
}

/** Segment's corrected timestamp, in the seed's format (microseconds, UTC). */
function eventTimeOf (m: SdkMessage, env: Envelope): string | FieldError[] {
  const field = m.timestamp !== undefined ? 'timestamp' : 'originalTimestamp'
  const sent = m.timestamp ?? m.originalTimestamp
  if (sent === undefined) return microTimeOf(env.receivedAt)
  const original = instantOf(sent)
  if (original === null) return [{ field, message: 'must be an ISO 8601 date-time' }]
  const sentAt = m.sentAt === undefined ? env.sentAt : instantOf(m.sentAt)
  if (sentAt === null) return [{ field: 'sentAt', message: 'must be an ISO 8601 date-time' }]
  if (sentAt === undefined) return original.micro
  const corrected = new Date(original.ms + env.receivedAt.getTime() - sentAt.ms)
  const iso = Number.isNaN(corrected.getTime()) ? '' : corrected.toISOString()
  if (!/^\d{4}-/.test(iso)) return [{ field, message: 'is out of range once corrected by receivedAt − sentAt' }]
  // the milliseconds moved by the skew, the microseconds as sent
  return `${iso.slice(0, 23)}${original.micro.slice(23, 26)}Z`
}

/** Date.toJSON's form, which the SDKs send: read straight (4% of a batch's HTTP thread went to the general parse) */
const JSON_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** A sent ISO 8601 time, read (null: not one). */
function instantOf (text: string): Instant | null {
  if (JSON_DATE.test(text)) {
    const ms = Date.parse(text)
    // a day that does not read back as sent (02-30) is not a date
    if (!Number.isNaN(ms) && new Date(ms).toISOString() === text) return { text, ms, micro: `${text.slice(0, 23)}000Z` }
  }
  const micro = toMicroTime(text)
  return micro === undefined ? null : { text, ms: Date.parse(`${micro.slice(0, 23)}Z`), micro }
}

function merged (outer: Record<string, unknown> | null | undefined, inner: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (outer == null) return inner ?? null
  if (inner == null) return outer
  return { ...outer, ...inner }
}
