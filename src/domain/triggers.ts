import { createHash } from 'node:crypto'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { parseIsoDuration } from '../lib/iso-duration.js'
import { isWebhookSecret } from '../lib/webhooks.js'
import { isEvent, type StoredEvent } from '../store/events.js'
import { escapeToken, Subjects } from '../store/subjects.js'
import { decision, Events, type Decided } from '../schema/events/index.js'
import type { CloudEventJson, TriggerCreated } from '../schema/events/relay.js'
import { checkHttpUrl } from './relay.js'
import type { Aggregate } from '../store/command.js'

// Triggers, as Knative defines them: a filter on CloudEvents attributes, a subscriber, and a
// delivery policy. Pure: the filter match, the lane (partition key) of an event, the checks of
// a new trigger, and the trigger aggregate's decide/evolve.

/** The trigger the seed's POST /event flow needs: relay the default type's {targetURL, …} data. */
export const DEFAULT_TRIGGER = 'receive-cloudevents'
/** The CloudEvents type of the seed's plain JSON body at POST /event. */
export const DEFAULT_EVENT_TYPE = 'dev.jetway.relay.request'
export const DEFAULT_EVENT_SOURCE = '/jetway/event'

/** Longest escaped token kept readable in a subject; longer ones are hashed. */
const MAX_TOKEN = 128

function tokenOf (value: string): string {
  const escaped = escapeToken(value)
  // '%H' cannot come out of escapeToken ('H' is not a hex digit), so a hash never collides with a name
  return escaped.length <= MAX_TOKEN ? escaped : `%H${createHash('sha256').update(value).digest('hex').slice(0, 40)}`
}

/** The subject token of a CloudEvents type. */
export function typeTokenOf (type: string): string {
  return tokenOf(type)
}

/**
 * The lane of an event: its CloudEvents subject (the partition key). Events of one lane reach a
 * subscriber in stream order; an event without a subject has a lane of its own.
 */
export function laneOf (event: Pick<CloudEventJson, 'subject'>, eventSeq: number): { token: string, keyed: boolean } {
  return typeof event.subject === 'string' && event.subject !== ''
    ? { token: tokenOf(event.subject), keyed: true }
    : { token: `%-${eventSeq}`, keyed: false }
}

/** The broker subject token of an event's lane: its subject, or % for none. */
export function brokerLaneToken (event: Pick<CloudEventJson, 'subject'>): string {
  return typeof event.subject === 'string' && event.subject !== '' ? tokenOf(event.subject) : '%'
}

/** Knative's attribute filter (exact match on each, extensions too) and a subject prefix. */
export function matchesFilter (filter: TriggerCreated['filter'], event: CloudEventJson): boolean {
  for (const [name, want] of Object.entries(filter.attributes)) {
    const value = (event as Record<string, unknown>)[name]
    if (value === undefined || value === null || String(value) !== want) return false
  }
  if (filter.subjectPrefix !== undefined) {
    if (typeof event.subject !== 'string' || !event.subject.startsWith(filter.subjectPrefix)) return false
  }
  return true
}

/** What POST /api/triggers takes (validated by its schema first). */
export interface TriggerInput {
  name: string
  filter?: { attributes?: Record<string, string>, subjectPrefix?: string }
  subscriber: { url: string, secret?: string } | { relay: true, secret?: string }
  delivery?: {
    retry?: number
    backoffPolicy?: 'linear' | 'exponential'
    backoffDelay?: string
    timeout?: string
    deadLetterSink?: { url: string }
  }
}

export interface TriggerDefaults {
  retry: number
  backoffPolicy: 'linear' | 'exponential'
  backoffDelayMs: number
  timeoutMs: number
}

const ATTRIBUTE = /^[a-z0-9]{1,20}$/

/** A new trigger's event data, or the fields that stop it. Pure. */
export function triggerOf (input: TriggerInput, defaults: TriggerDefaults, createdAt: string): TriggerCreated | FieldError[] {
  const errors: FieldError[] = []
  const attributes = input.filter?.attributes ?? {}
  for (const name of Object.keys(attributes)) {
    if (!ATTRIBUTE.test(name)) errors.push({ field: `filter.attributes.${name}`, message: 'is not a CloudEvents attribute name (a-z, 0-9, at most 20)' })
  }
  const sub = input.subscriber
  if ('url' in sub) {
    const bad = checkHttpUrl(sub.url)
    if (bad !== undefined) errors.push({ field: 'subscriber.url', message: bad })
  }
  if (sub.secret !== undefined && !isWebhookSecret(sub.secret)) errors.push({ field: 'subscriber.secret', message: 'must be whsec_ followed by base64' })
  const d = input.delivery ?? {}
  const duration = (field: 'backoffDelay' | 'timeout', fallbackMs: number): { ms: number, text: string } => {
    const text = d[field]
    if (text === undefined) return { ms: fallbackMs, text: `PT${fallbackMs / 1000}S` }
    const ms = parseIsoDuration(text)
    if (ms === undefined) errors.push({ field: `delivery.${field}`, message: 'must be an ISO 8601 duration such as PT0.5S or PT1M' })
    else if (field === 'timeout' && ms <= 0) errors.push({ field: 'delivery.timeout', message: 'must be more than 0' })
    return { ms: ms ?? fallbackMs, text }
  }
  const backoffDelay = duration('backoffDelay', defaults.backoffDelayMs)
  const timeout = duration('timeout', defaults.timeoutMs)
  if (d.deadLetterSink !== undefined) {
    const bad = checkHttpUrl(d.deadLetterSink.url)
    if (bad !== undefined) errors.push({ field: 'delivery.deadLetterSink.url', message: bad })
  }
  if (errors.length > 0) return errors
  const trigger: TriggerCreated = {
    name: input.name,
    filter: { attributes, ...(input.filter?.subjectPrefix === undefined ? {} : { subjectPrefix: input.filter.subjectPrefix }) },
    subscriber: 'url' in sub ? { url: sub.url } : { relay: true },
    delivery: {
      retry: d.retry ?? defaults.retry,
      backoffPolicy: d.backoffPolicy ?? defaults.backoffPolicy,
      backoffDelayMs: backoffDelay.ms,
      backoffDelay: backoffDelay.text,
      timeoutMs: timeout.ms,
      timeout: timeout.text,
      ...(d.deadLetterSink === undefined ? {} : { deadLetterSink: { url: d.deadLetterSink.url } })
    },
    createdAt
  }
  if (sub.secret !== undefined) trigger.secret = sub.secret
  return trigger
}

// --- the trigger aggregate: relay.triggers.<name> ---------------------------------------------

export interface TriggerState {
  trigger: TriggerCreated
  version: number
}

export type TriggerCommand = { kind: 'create', trigger: TriggerCreated } | { kind: 'delete', name: string }

export const triggerAggregate: Aggregate<TriggerState, TriggerCommand> = {
  stream: 'RELAY',
  subject: Subjects.trigger,
  evolve (state, ev: StoredEvent) {
    if (isEvent(ev, Events.triggerCreated)) return { trigger: ev.data, version: ev.seq }
    if (isEvent(ev, Events.triggerDeleted)) return undefined
    return state
  },
  decide (state, command): Decided {
    if (command.kind === 'create') {
      if (state !== undefined) throw new JetwayError(ErrorCodes.conflict, `a trigger named ${command.trigger.name} exists; delete it first`)
      return [decision(Events.triggerCreated, command.trigger)]
    }
    if (state === undefined) throw new JetwayError(ErrorCodes.notFound, `no trigger ${command.name}`)
    return [decision(Events.triggerDeleted, { name: command.name })]
  }
}
