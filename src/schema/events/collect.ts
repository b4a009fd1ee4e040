import { Type, type Static } from '@sinclair/typebox'

// Seed 002: { event_id, event, user_id, parameters: { order_id, currency, price } | null }.
// Limits keep every subject built from these under NATS's control-line limit.
export const EventId = Type.String({ minLength: 1, maxLength: 128 })
export const EventName = Type.String({ minLength: 1, maxLength: 64 })
export const UserId = Type.String({ minLength: 1, maxLength: 200 })

export const Parameters = Type.Union([
  Type.Null(),
  Type.Object({
    order_id: Type.Optional(Type.String({ maxLength: 128 })),
    currency: Type.Optional(Type.String({ maxLength: 16 })),
    price: Type.Optional(Type.Number())
  }, { additionalProperties: true, maxProperties: 64 })
])
export type Parameters = Static<typeof Parameters>

/** Time as the seed prints it: %Y-%m-%dT%H:%M:%S.%fZ, always 6 fractional digits, UTC. */
export const MicroTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z$' })

/** collect.event.received v1: one collected user event. */
export const CollectEventReceived = Type.Object({
  event_id: EventId,
  event: EventName,
  user_id: UserId,
  parameters: Parameters,
  event_datetime: MicroTime,
  received_at: MicroTime
})
export type CollectEventReceived = Static<typeof CollectEventReceived>

/** The message types of the Segment tracking API (and RudderStack's, the same protocol). */
export const SdkMessageTypes = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const
export const SdkMessageType = Type.Union(SdkMessageTypes.map(t => Type.Literal(t)))
export type SdkMessageType = Static<typeof SdkMessageType>

/** An SDK message's free-form object (`context`, `integrations`), kept as sent. */
export const FreeObject = Type.Record(Type.String(), Type.Unknown())

/**
 * collect.event.received v2: v1's fields and what an analytics SDK message carries besides
 * (POST /v1/*): its anonymousId, context and integrations as sent, and the message's type and
 * the times its event_datetime was corrected from. /api/collect still appends v1.
 */
export const CollectEventReceivedV2 = Type.Object({
  event_id: EventId,
  event: EventName,
  user_id: UserId,
  parameters: Parameters,
  event_datetime: MicroTime,
  received_at: MicroTime,
  anonymous_id: Type.Union([UserId, Type.Null()]),
  context: Type.Union([FreeObject, Type.Null()]),
  integrations: Type.Union([FreeObject, Type.Null()]),
  sdk: Type.Object({
    type: SdkMessageType,
    /** the message's own timestamp (else originalTimestamp), as sent */
    timestamp: Type.Union([Type.String(), Type.Null()]),
    /** the sender's clock when it sent the message (the message's sentAt, else the batch's) */
    sent_at: Type.Union([Type.String(), Type.Null()])
  })
})
export type CollectEventReceivedV2 = Static<typeof CollectEventReceivedV2>
