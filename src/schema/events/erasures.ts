import { Type, type Static } from '@sinclair/typebox'
import { Instant } from './meetings.js'

// Erasures of users (stream ERASURES), with no personal data: a user is named only by a user
// key, the keyed hash of the user id (src/lib/erasure-key.ts). Every event of one erasure is on
// erasure.requests.<erasureId>; the lifting of a suppression on erasure.suppressions.<userKey>.

export const ErasureId = Type.String({ pattern: '^[0-9a-f]{32}$' })
/** HMAC-SHA256 of the user id, base64url */
export const UserKey = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })

/** erasure.requested v1: DELETE /api/users/{userId}; with suppress, the user's future writes are refused too. */
export const ErasureRequested = Type.Object({
  erasureId: ErasureId,
  userKey: UserKey,
  suppress: Type.Boolean(),
  requestedAt: Instant
})
export type ErasureRequested = Static<typeof ErasureRequested>

/** What an erasure removes by id (each has an id that is no personal data). */
export const ErasedKind = Type.Union([
  Type.Literal('job'), Type.Literal('meeting'), Type.Literal('task'), Type.Literal('schedule'), Type.Literal('notification')
])
export type ErasedKind = Static<typeof ErasedKind>

/**
 * erasure.removed v1: records of the user, purged from their streams; every instance drops
 * their rows (a chunk of at most 1000 ids per event, so a message stays small).
 */
export const ErasureRemoved = Type.Object({
  erasureId: ErasureId,
  kind: ErasedKind,
  ids: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 1000 })
})
export type ErasureRemoved = Static<typeof ErasureRemoved>

/**
 * erasure.completed v1: every stream is purged of the user's data up to `cutoffs` (each
 * stream's last sequence when the erasure ran; what came later is not the erasure's); every
 * instance drops the user's collected events up to the COLLECT cutoff.
 */
export const ErasureCompleted = Type.Object({
  erasureId: ErasureId,
  userKey: UserKey,
  cutoffs: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  /** messages purged per stream */
  purged: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  completedAt: Instant
})
export type ErasureCompleted = Static<typeof ErasureCompleted>

/** suppression.lifted v1: DELETE /api/suppressions/{userId}: the user's writes are taken again. */
export const SuppressionLifted = Type.Object({
  userKey: UserKey,
  liftedAt: Instant
})
export type SuppressionLifted = Static<typeof SuppressionLifted>
