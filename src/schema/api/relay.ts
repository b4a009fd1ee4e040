import { Type, type Static } from '@sinclair/typebox'
import { BodyEncoding, RequestId, TriggerName } from '../events/relay.js'
import { SeqToken } from './common.js'
import { NAME_PATTERN } from './fields.js'

// Seed 001's bodies, as its curl examples send them, and Jetway's answers.

const HeaderValue = Type.Union([Type.String({ maxLength: 8192 }), Type.Number(), Type.Boolean()])

/** Knative's delivery spec (durations ISO 8601: PT0.5S, PT1M). */
export const DeliverySpec = Type.Object({
  retry: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'retries after the first attempt' })),
  backoffPolicy: Type.Optional(Type.Union([Type.Literal('linear'), Type.Literal('exponential')])),
  backoffDelay: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 duration, e.g. PT1S' })),
  timeout: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 duration of one attempt' }))
}, { additionalProperties: false })
export type DeliverySpec = Static<typeof DeliverySpec>

/** {targetURL, targetAPI, headers, body}: GET/POST /sync, POST /async, the default event type's data. */
export const RelayBody = Type.Object({
  // (no control characters or lone surrogates: a URL parser drops CR, LF and tab, and encodes
  // the rest, so the call would go somewhere other than what was sent)
  targetURL: Type.String({ minLength: 1, maxLength: 2048, pattern: NAME_PATTERN, description: 'http(s)://host[:port], where the call goes' }),
  targetAPI: Type.String({ maxLength: 2048, pattern: NAME_PATTERN, description: 'the path (and query) appended to targetURL' }),
  headers: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), HeaderValue, { maxProperties: 100 })),
  body: Type.Optional(Type.Unknown()),
  /** Jetway's addition for /async: this request's delivery policy (default RELAY_RETRY, …) */
  delivery: Type.Optional(DeliverySpec)
})
export type RelayBody = Static<typeof RelayBody>

export const AsyncAccepted = Type.Object({ requestId: RequestId })
export const RequestParams = Type.Object({ requestId: RequestId })

const Attempt = Type.Object({
  to: Type.Union([Type.Literal('target'), Type.Literal('callback')]),
  round: Type.Integer(),
  attempt: Type.Integer(),
  at: Type.String(),
  durationMs: Type.Integer(),
  status: Type.Union([Type.Integer(), Type.Null()]),
  code: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()])
})

const Response = Type.Object({
  status: Type.Integer(),
  headers: Type.Record(Type.String(), Type.String()),
  body: Type.Unknown(),
  bodyEncoding: BodyEncoding,
  bodyBytes: Type.Integer(),
  bodyTruncated: Type.Boolean()
})

/** GET /async/{requestId} */
export const AsyncStatus = Type.Object({
  requestId: RequestId,
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('dead-lettered')]),
  method: Type.String(),
  url: Type.String(),
  targetURL: Type.String(),
  targetAPI: Type.String(),
  requestedAt: Type.String(),
  updatedAt: Type.String(),
  delivery: Type.Object({
    retry: Type.Integer(),
    backoffPolicy: Type.String(),
    backoffDelay: Type.String(),
    timeout: Type.String()
  }),
  /** 1, plus one per replay from the DLQ */
  rounds: Type.Integer(),
  /** attempts of the current round on the target */
  attemptCount: Type.Integer(),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  /** every attempt, on the target and on the callback, of every round */
  attempts: Type.Array(Attempt),
  response: Type.Union([Response, Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.Union([Type.String(), Type.Null()]), message: Type.String() }), Type.Null()]),
  deadLetter: Type.Union([Type.Object({ dlqSeq: Type.Integer(), replay: Type.String() }), Type.Null()]),
  callback: Type.Object({
    url: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')]),
    attemptCount: Type.Integer(),
    nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    webhookId: Type.Union([Type.String(), Type.Null()])
  })
})
export type AsyncStatus = Static<typeof AsyncStatus>

// --- broker and triggers ---------------------------------------------------------------------

export const EventAccepted = Type.Object({
  accepted: Type.Integer(),
  events: Type.Array(Type.Object({ id: Type.String(), source: Type.String(), type: Type.String(), seq: Type.Integer(), duplicate: Type.Boolean() }))
})

const Url = Type.String({ minLength: 1, maxLength: 2048 })
const Secret = Type.String({ maxLength: 200, description: 'whsec_…: sign this trigger\'s deliveries with it instead of WEBHOOK_SECRET' })

export const TriggerBody = Type.Object({
  name: TriggerName,
  filter: Type.Optional(Type.Object({
    attributes: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 20 }), Type.String({ maxLength: 1024 }), { maxProperties: 32 })),
    subjectPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 }))
  }, { additionalProperties: false })),
  subscriber: Type.Union([
    Type.Object({ url: Url, secret: Type.Optional(Secret) }, { additionalProperties: false }),
    Type.Object({ relay: Type.Literal(true), secret: Type.Optional(Secret) }, { additionalProperties: false })
  ]),
  delivery: Type.Optional(Type.Object({
    ...DeliverySpec.properties,
    deadLetterSink: Type.Optional(Type.Object({ url: Url }, { additionalProperties: false }))
  }, { additionalProperties: false }))
}, { additionalProperties: false })
export type TriggerBody = Static<typeof TriggerBody>

export const Trigger = Type.Object({
  name: TriggerName,
  /** the durable consumer of RELAY that feeds it */
  consumer: Type.String(),
  filter: Type.Object({ attributes: Type.Record(Type.String(), Type.String()), subjectPrefix: Type.Optional(Type.String()) }),
  subscriber: Type.Union([Type.Object({ url: Type.String() }), Type.Object({ relay: Type.Literal(true) })]),
  /** true when it signs with a secret of its own */
  ownSecret: Type.Boolean(),
  delivery: Type.Object({
    retry: Type.Integer(),
    backoffPolicy: Type.String(),
    backoffDelay: Type.String(),
    timeout: Type.String(),
    deadLetterSink: Type.Optional(Type.Object({ url: Type.String() }))
  }),
  createdAt: Type.String(),
  version: Type.Integer()
})
export type Trigger = Static<typeof Trigger>

export const TriggerParams = Type.Object({ name: TriggerName })
export const TriggerList = Type.Object({ items: Type.Array(Trigger) })

// --- callbacks received ----------------------------------------------------------------------

export const CallbackAck = Type.Object({ received: Type.Boolean(), seq: Type.Integer(), requestId: Type.Union([RequestId, Type.Null()]) })

export const CallbackListQuery = Type.Object({
  requestId: Type.Optional(RequestId),
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'only callbacks after this RELAY sequence' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  min_seq: Type.Optional(SeqToken)
})

export const Callback = Type.Object({
  seq: Type.Integer(),
  method: Type.String(),
  requestId: Type.Union([Type.String(), Type.Null()]),
  headers: Type.Record(Type.String(), Type.String()),
  query: Type.Record(Type.String(), Type.String()),
  body: Type.Unknown(),
  bodyEncoding: BodyEncoding,
  signature: Type.String(),
  webhookId: Type.Union([Type.String(), Type.Null()]),
  receivedAt: Type.String()
})
export const CallbackList = Type.Object({ items: Type.Array(Callback) })

export const CallbackSubQuery = Type.Object({
  requestId: Type.Optional(RequestId),
  lastEventId: Type.Optional(Type.String())
})
