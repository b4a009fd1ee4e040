import { Type, type Static } from '@sinclair/typebox'
import { Instant } from './meetings.js'

// Seed 001: the HTTP relay and CloudEvents broker, all in stream RELAY.
// - relay.sync.<requestId>      a /sync call: relay.sync.requested, then .answered or .failed
// - relay.requests.<requestId>  an /async request (the aggregate): relay.requested, attempts,
//                               outcome, callback attempts and outcome
// - relay.events.<type>.<key>   broker CloudEvents (POST /event, replies), what triggers read
// - relay.triggers.<name>       a trigger's life: relay.trigger.created, .deleted
// - relay.deliveries.<trigger>.<lane>  a trigger's delivery retries and outcomes, one lane per
//                               CloudEvents subject (the partition key)
// - relay.callbacks.<requestId> callbacks that arrived at /event/callback

export const RequestId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
export const TriggerName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'a DNS label, as Knative names a Trigger' })
/** header name -> value, as the client gave them (relayed as is, minus hop-by-hop ones) */
export const HeaderMap = Type.Record(Type.String(), Type.String())
export const BodyEncoding = Type.Union([Type.Literal('json'), Type.Literal('text'), Type.Literal('base64'), Type.Literal('none')])
export type BodyEncoding = Static<typeof BodyEncoding>

/** How one delivery is retried: Knative's delivery spec, durations in milliseconds. */
export const DeliveryPolicy = Type.Object({
  /** retries after the first attempt */
  retry: Type.Integer({ minimum: 0, maximum: 100 }),
  backoffPolicy: Type.Union([Type.Literal('linear'), Type.Literal('exponential')]),
  backoffDelayMs: Type.Integer({ minimum: 0 }),
  timeoutMs: Type.Integer({ minimum: 1 })
})
export type DeliveryPolicy = Static<typeof DeliveryPolicy>

/** A response as events keep it: the body capped (RELAY_MAX_STORED_BODY), JSON kept as JSON. */
export const StoredResponse = Type.Object({
  status: Type.Integer(),
  headers: HeaderMap,
  body: Type.Unknown(),
  bodyEncoding: BodyEncoding,
  bodyBytes: Type.Integer({ minimum: 0 }),
  bodyTruncated: Type.Boolean()
})
export type StoredResponse = Static<typeof StoredResponse>

/** One outbound attempt that did not succeed. */
const AttemptFields = {
  attempt: Type.Integer({ minimum: 1 }),
  at: Instant,
  durationMs: Type.Integer({ minimum: 0 }),
  /** the answer's status; absent when there was none (timeout, unreachable, refused) */
  status: Type.Optional(Type.Integer()),
  /** an OutboundError code (JETWAY_OUTBOUND_TIMEOUT, …) when there was no answer */
  code: Type.Optional(Type.String()),
  error: Type.String({ maxLength: 2000 })
}

// --- sync ---------------------------------------------------------------------------------

/** relay.sync.requested v1: GET or POST /sync, before the target is called. */
export const SyncRequested = Type.Object({
  requestId: RequestId,
  method: Type.Union([Type.Literal('GET'), Type.Literal('POST')]),
  targetURL: Type.String(),
  targetAPI: Type.String(),
  url: Type.String(),
  headers: HeaderMap,
  body: Type.Optional(Type.Unknown()),
  requestedAt: Instant
})
export type SyncRequested = Static<typeof SyncRequested>

/** relay.sync.answered v1: the target answered (any status); the client got this answer. */
export const SyncAnswered = Type.Object({
  requestId: RequestId,
  response: StoredResponse,
  durationMs: Type.Integer({ minimum: 0 })
})
export type SyncAnswered = Static<typeof SyncAnswered>

/** relay.sync.failed v1: no answer (timeout 504, unreachable 502, refused 403, invalid 422). */
export const SyncFailed = Type.Object({
  requestId: RequestId,
  code: Type.String(),
  error: Type.String({ maxLength: 2000 }),
  httpStatus: Type.Integer(),
  durationMs: Type.Integer({ minimum: 0 })
})
export type SyncFailed = Static<typeof SyncFailed>

// --- async --------------------------------------------------------------------------------

/**
 * relay.requested v1: POST /async accepted. Each relay.requested on a request's subject starts
 * a round of attempts (a DLQ replay puts it there again); the round is its stream sequence.
 */
export const RelayRequested = Type.Object({
  requestId: RequestId,
  targetURL: Type.String(),
  targetAPI: Type.String(),
  url: Type.String(),
  method: Type.Literal('POST'),
  headers: HeaderMap,
  body: Type.Optional(Type.Unknown()),
  /** where the outcome goes: body.callback_uri, or body["callback-url"] + body["callback-api"] */
  callbackUrl: Type.Optional(Type.String()),
  delivery: DeliveryPolicy,
  requestedAt: Instant
})
export type RelayRequested = Static<typeof RelayRequested>

/** relay.attempt.failed v1: an attempt failed and another one is due at nextAttemptAt (a durable timer). */
export const RelayAttemptFailed = Type.Object({
  requestId: RequestId,
  round: Type.Integer({ minimum: 1 }),
  ...AttemptFields,
  nextAttemptAt: Instant,
  backoffMs: Type.Integer({ minimum: 0 })
})
export type RelayAttemptFailed = Static<typeof RelayAttemptFailed>

/** relay.delivered v1: the target answered 2xx. */
export const RelayDelivered = Type.Object({
  requestId: RequestId,
  round: Type.Integer({ minimum: 1 }),
  attempt: Type.Integer({ minimum: 1 }),
  at: Instant,
  durationMs: Type.Integer({ minimum: 0 }),
  response: StoredResponse
})
export type RelayDelivered = Static<typeof RelayDelivered>

/**
 * relay.failed v1: the round is over without success: a permanent failure (a 4xx other than
 * 408/429, a refused or invalid target), or retries exhausted, then dead-lettered in DLQ.
 */
export const RelayFailed = Type.Object({
  requestId: RequestId,
  round: Type.Integer({ minimum: 1 }),
  ...AttemptFields,
  reason: Type.Union([Type.Literal('permanent'), Type.Literal('exhausted')]),
  /** the last answer, when there was one */
  response: Type.Optional(StoredResponse),
  /** DLQ sequence of the dead letter (exhausted rounds) */
  dlqSeq: Type.Optional(Type.Integer({ minimum: 1 }))
})
export type RelayFailed = Static<typeof RelayFailed>

/** relay.callback.failed v1: a callback attempt failed; another is due at nextAttemptAt unless final. */
export const RelayCallbackFailed = Type.Object({
  requestId: RequestId,
  round: Type.Integer({ minimum: 1 }),
  url: Type.String(),
  ...AttemptFields,
  nextAttemptAt: Type.Optional(Instant),
  backoffMs: Type.Optional(Type.Integer({ minimum: 0 })),
  final: Type.Boolean()
})
export type RelayCallbackFailed = Static<typeof RelayCallbackFailed>

/** relay.callback.sent v1: the callback URL answered 2xx. */
export const RelayCallbackSent = Type.Object({
  requestId: RequestId,
  round: Type.Integer({ minimum: 1 }),
  url: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  at: Instant,
  durationMs: Type.Integer({ minimum: 0 }),
  status: Type.Integer(),
  webhookId: Type.String()
})
export type RelayCallbackSent = Static<typeof RelayCallbackSent>

// --- callbacks received ---------------------------------------------------------------------

/** relay.callback.received v1: GET or POST /event/callback. */
export const CallbackReceived = Type.Object({
  method: Type.Union([Type.Literal('GET'), Type.Literal('POST')]),
  /** the relay request it answers, when it could be told (body.requestId, jetway-request-id, ?requestId=) */
  requestId: Type.Optional(RequestId),
  headers: HeaderMap,
  query: Type.Record(Type.String(), Type.String()),
  body: Type.Unknown(),
  bodyEncoding: BodyEncoding,
  /** Standard Webhooks signature against WEBHOOK_SECRET: valid, invalid, or none sent / no secret */
  signature: Type.Union([Type.Literal('valid'), Type.Literal('invalid'), Type.Literal('unsigned'), Type.Literal('unchecked')]),
  /** webhook-id, the receiver's dedupe key for redelivered callbacks */
  webhookId: Type.Optional(Type.String()),
  receivedAt: Instant
})
export type CallbackReceived = Static<typeof CallbackReceived>

// --- broker -------------------------------------------------------------------------------

/** A CloudEvent in structured JSON form (1.0 or 0.3): attributes, extensions, data or data_base64. */
export const CloudEventJson = Type.Object({
  specversion: Type.Union([Type.Literal('1.0'), Type.Literal('0.3')]),
  id: Type.String({ minLength: 1 }),
  source: Type.String({ minLength: 1 }),
  type: Type.String({ minLength: 1 }),
  subject: Type.Optional(Type.String()),
  time: Type.Optional(Type.String()),
  datacontenttype: Type.Optional(Type.String()),
  data_base64: Type.Optional(Type.String())
}, { additionalProperties: true })
export type CloudEventJson = Static<typeof CloudEventJson>

/** relay.event.received v1: a CloudEvent entered the broker; its envelope time is the arrival time. */
export const BrokerEventReceived = Type.Object({
  event: CloudEventJson,
  /** how it came: binary, structured, batch, plain (the seed's JSON), reply (a subscriber's answer) */
  via: Type.Union([Type.Literal('binary'), Type.Literal('structured'), Type.Literal('batch'), Type.Literal('plain'), Type.Literal('reply')]),
  /** for a reply: the trigger and the event it answered */
  replyTo: Type.Optional(Type.Object({ trigger: TriggerName, eventSeq: Type.Integer({ minimum: 1 }) }))
})
export type BrokerEventReceived = Static<typeof BrokerEventReceived>

// --- triggers -------------------------------------------------------------------------------

export const TriggerFilter = Type.Object({
  /** exact matches on CloudEvents attributes and extensions (type, source, subject, …) */
  attributes: Type.Record(Type.String(), Type.String()),
  /** the event's subject starts with this */
  subjectPrefix: Type.Optional(Type.String())
})
export type TriggerFilter = Static<typeof TriggerFilter>

export const TriggerSubscriber = Type.Union([
  Type.Object({ url: Type.String() }),
  Type.Object({ relay: Type.Literal(true) })
])
export type TriggerSubscriber = Static<typeof TriggerSubscriber>

/** relay.trigger.created v1: a trigger and its normalised delivery policy. */
export const TriggerCreated = Type.Object({
  name: TriggerName,
  filter: TriggerFilter,
  subscriber: TriggerSubscriber,
  delivery: Type.Object({
    ...DeliveryPolicy.properties,
    /** the durations as the client wrote them (ISO 8601), echoed by the API */
    backoffDelay: Type.String(),
    timeout: Type.String(),
    deadLetterSink: Type.Optional(Type.Object({ url: Type.String() }))
  }),
  /** a signing secret of its own (whsec_…), instead of WEBHOOK_SECRET */
  secret: Type.Optional(Type.String()),
  createdAt: Instant
})
export type TriggerCreated = Static<typeof TriggerCreated>

/** relay.trigger.deleted v1 */
export const TriggerDeleted = Type.Object({ name: TriggerName })
export type TriggerDeleted = Static<typeof TriggerDeleted>

const TriggerDeliveryFields = {
  trigger: TriggerName,
  /** RELAY sequence of the broker event */
  eventSeq: Type.Integer({ minimum: 1 }),
  eventId: Type.String(),
  /** the lane token: the escaped CloudEvents subject, or %-<eventSeq> for an event without one */
  lane: Type.String()
}

/** relay.trigger.attempt.failed v1: a delivery failed; the next attempt is a durable timer; its lane waits. */
export const TriggerAttemptFailed = Type.Object({
  ...TriggerDeliveryFields,
  ...AttemptFields,
  nextAttemptAt: Instant,
  backoffMs: Type.Integer({ minimum: 0 })
})
export type TriggerAttemptFailed = Static<typeof TriggerAttemptFailed>

/** relay.trigger.delivered v1: delivered after failed attempts (a first-attempt success is not recorded). */
export const TriggerDelivered = Type.Object({
  ...TriggerDeliveryFields,
  attempt: Type.Integer({ minimum: 1 }),
  at: Instant,
  status: Type.Integer(),
  replySeq: Type.Optional(Type.Integer({ minimum: 1 }))
})
export type TriggerDelivered = Static<typeof TriggerDelivered>

/** relay.trigger.deadlettered v1: given up; the event went to the dead-letter sink, or to DLQ. */
export const TriggerDeadLettered = Type.Object({
  ...TriggerDeliveryFields,
  ...AttemptFields,
  reason: Type.Union([Type.Literal('permanent'), Type.Literal('exhausted'), Type.Literal('trigger deleted')]),
  sink: Type.Union([Type.Literal('url'), Type.Literal('dlq'), Type.Literal('none')]),
  sinkUrl: Type.Optional(Type.String()),
  dlqSeq: Type.Optional(Type.Integer({ minimum: 1 }))
})
export type TriggerDeadLettered = Static<typeof TriggerDeadLettered>
