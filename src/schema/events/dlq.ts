import { Type, type Static } from '@sinclair/typebox'

/** dlq.message.deadlettered v1: a message a worker gave up on, kept whole for replay. */
export const MessageDeadLettered = Type.Object({
  stream: Type.String(),
  consumer: Type.String(),
  seq: Type.Integer(),
  subject: Type.String(),
  headers: Type.Record(Type.String(), Type.String()),
  /** the original body, base64 */
  data: Type.String(),
  error: Type.String(),
  deliveries: Type.Integer()
})
export type MessageDeadLettered = Static<typeof MessageDeadLettered>

/** dlq.message.replayed v1: an operator put a dead letter back on its subject. */
export const MessageReplayed = Type.Object({
  dlqSeq: Type.Integer(),
  subject: Type.String(),
  seq: Type.Integer()
})
export type MessageReplayed = Static<typeof MessageReplayed>
