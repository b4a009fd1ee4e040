import { Type, type Static } from '@sinclair/typebox'
import { UserId } from './fields.js'
import { MinSeqQuery } from './common.js'

// HTTP bodies of the erasure of a user (README, Data lifecycle): DELETE /api/users/{userId},
// GET /api/erasures/{erasureId}, DELETE /api/suppressions/{userId}. Admin only.

export const EraseParams = Type.Object({ userId: UserId })
export const EraseQuery = Type.Object({
  suppress: Type.Optional(Type.Boolean({ default: false, description: 'also refuse the user\'s future writes, until DELETE /api/suppressions/{userId}' }))
})

export const ErasureAccepted = Type.Object({
  erasureId: Type.String({ description: 'follow it at GET /api/erasures/{erasureId} (the Location header)' }),
  status: Type.Literal('pending')
})

export const ErasureParams = Type.Object({ erasureId: Type.String({ pattern: '^[0-9a-f]{32}$' }) })
export const ErasureQuery = MinSeqQuery

const Counts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }))

export const Erasure = Type.Object({
  erasureId: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('done')]),
  suppress: Type.Boolean({ description: 'the erasure asked for the user\'s future writes to be refused' }),
  suppressed: Type.Boolean({ description: 'they are refused now (not lifted since)' }),
  requestedAt: Type.String(),
  completedAt: Type.Union([Type.String(), Type.Null()]),
  removed: Type.Object({
    streams: Counts,
    readModels: Counts
  }, { description: 'messages purged per stream (once, by the instance that carried it out) and rows dropped per read model (in the read models this answer comes from)' }),
  cutoffs: Type.Union([Counts, Type.Null()], { description: 'per stream, the last sequence the erasure covers: what the user wrote later is not erased' })
})
export type Erasure = Static<typeof Erasure>

export const SuppressionParams = Type.Object({ userId: UserId })
