import { Type } from '@sinclair/typebox'

/** A write's `jetway-seq` sent back: `<STREAM>:<sequence>`, or a bare sequence of the route's own stream. */
export const SeqToken = Type.Union([
  Type.Integer({ minimum: 0 }),
  Type.String({ pattern: '^([A-Za-z0-9_-]{1,64}:)?\\d{1,16}$' })
], { description: 'wait until the read model fed by that stream has applied this sequence' })

export const MinSeqQuery = Type.Object({
  min_seq: Type.Optional(SeqToken)
})
