import { Type, type Static } from '@sinclair/typebox'
import { EventStatus, JobType } from '../events/jobs.js'
import { EventDesc, JobId, UserId } from './fields.js'

// HTTP bodies of job notifications (seed 000).

export const PubRequest = Type.Object({
  eventType: JobType,
  userId: UserId,
  timeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 30 * 24 * 3600, description: 'fail the job as timed out after this; default JOB_TIMEOUT' }))
})
export type PubRequest = Static<typeof PubRequest>

export const PubResponse = Type.Object({ eventId: Type.String() })

export const JobParams = Type.Object({ eventId: JobId })
export const UserParams = Type.Object({ userId: UserId })

export const Job = Type.Object({
  eventId: Type.String(),
  userId: Type.String(),
  eventType: Type.String(),
  status: Type.Union([Type.Literal('PENDING'), Type.Literal('Y'), Type.Literal('N')]),
  eventStatus: Type.Union([EventStatus, Type.Null()], { description: "the seed's Y/N once the job finished" }),
  eventDesc: Type.String(),
  requestedAt: Type.String(),
  deadline: Type.String(),
  completedAt: Type.Union([Type.String(), Type.Null()])
})

export const CompleteRequest = Type.Object({
  eventStatus: EventStatus,
  eventDesc: Type.Optional(EventDesc)
})

export const IntakeResponse = Type.Object({
  accepted: Type.Integer({ description: 'completions appended (repeats of an already received source event count too)' })
})

export const ValidationResponse = Type.Object({ validationResponse: Type.String() })

export const SseQuery = Type.Object({
  lastEventId: Type.Optional(Type.String({ maxLength: 20 })),
  access_token: Type.Optional(Type.String({ maxLength: 8192 }))
})
