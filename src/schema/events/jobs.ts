import { Type, type Static } from '@sinclair/typebox'
import { UserId } from './collect.js'

// Seed 000: a web app starts an ML job and learns its outcome over SSE.
export const JobType = Type.Union([Type.Literal('TRAINING'), Type.Literal('DEPLOY'), Type.Literal('TEST')])
export type JobType = Static<typeof JobType>
/** Jetway issues UUIDs; an intake may name any id, so the bound is generous but finite. */
export const JobId = Type.String({ minLength: 1, maxLength: 128 })
/** Y: succeeded, N: failed (the seed's codes) */
export const EventStatus = Type.Union([Type.Literal('Y'), Type.Literal('N')])
export type EventStatus = Static<typeof EventStatus>
export const EventDesc = Type.String({ maxLength: 2000 })

/** job.requested v1 */
export const JobRequested = Type.Object({
  eventId: JobId,
  eventType: JobType,
  userId: UserId,
  requestedAt: Type.String({ format: 'date-time' }),
  /** no completion by then: the job fails as timed out */
  deadline: Type.String({ format: 'date-time' })
})
export type JobRequested = Static<typeof JobRequested>

export const CompletionOrigin = Type.Union([Type.Literal('intake'), Type.Literal('timeout'), Type.Literal('simulator')])

/** job.completed v1: a completion as received, not yet matched to its job. */
export const JobCompleted = Type.Object({
  eventId: JobId,
  eventStatus: EventStatus,
  eventDesc: EventDesc,
  origin: CompletionOrigin,
  /** the id and type the sender gave it (Event Grid / CloudEvents), for tracing */
  sourceId: Type.Optional(Type.String({ maxLength: 256 })),
  sourceType: Type.Optional(Type.String({ maxLength: 256 }))
})
export type JobCompleted = Static<typeof JobCompleted>

/** job.status.changed v1: exactly the seed's Redis pub/sub message, what SSE subscribers get. */
export const JobStatusChanged = Type.Object({
  eventId: JobId,
  eventStatus: EventStatus,
  eventDesc: EventDesc,
  eventType: JobType,
  userId: UserId
})
export type JobStatusChanged = Static<typeof JobStatusChanged>
