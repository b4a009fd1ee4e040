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
