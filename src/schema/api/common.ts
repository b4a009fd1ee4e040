import { Type } from '@sinclair/typebox'

export const MinSeqQuery = Type.Object({
  min_seq: Type.Optional(Type.Integer({ minimum: 0, description: 'wait until the read model has applied this stream sequence' }))
})
