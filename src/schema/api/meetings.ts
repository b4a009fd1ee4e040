import { Type, type Static } from '@sinclair/typebox'
import { Email, Instant, MeetingId } from '../events/meetings.js'
import { Description, Location, Organizer, Participant, PersonName, Reason, Title } from './fields.js'
import { MinSeqQuery } from './common.js'

// HTTP bodies of meetings (seed 004).

export const CreateMeeting = Type.Object({
  title: Title,
  startsAt: Instant,
  endsAt: Type.Optional(Instant),
  durationMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 })),
  location: Location,
  description: Type.Optional(Description),
  participants: Type.Array(Participant, { minItems: 1, maxItems: 500 }),
  organizer: Type.Optional(Organizer)
})
export type CreateMeeting = Static<typeof CreateMeeting>

export const PatchMeeting = Type.Object({
  title: Type.Optional(Title),
  startsAt: Type.Optional(Instant),
  endsAt: Type.Optional(Instant),
  location: Type.Optional(Location),
  description: Type.Optional(Description)
}, { minProperties: 1 })

export const AddParticipants = Type.Object({ participants: Type.Array(Participant, { minItems: 1, maxItems: 500 }) })
export const CancelMeeting = Type.Object({ reason: Type.Optional(Reason) })

export const MeetingParams = Type.Object({ id: MeetingId })
export const ParticipantParams = Type.Object({ id: MeetingId, email: Email })

export const ListQuery = Type.Object({
  from: Type.Optional(Instant),
  to: Type.Optional(Instant),
  userId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'off mode (or admin): whose meetings' })),
  email: Type.Optional(Email),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  ...MinSeqQuery.properties
})

export const Meeting = Type.Object({
  id: Type.String(),
  version: Type.Integer({ description: 'the ETag: MEETINGS sequence of the last change' }),
  title: Type.String(),
  startsAt: Type.String(),
  endsAt: Type.String(),
  location: Type.String(),
  description: Type.String(),
  organizer: Type.Object({ userId: Type.String(), email: Type.String(), name: Type.Optional(PersonName) }),
  participants: Type.Array(Type.Object({ email: Type.String(), name: Type.Optional(PersonName) })),
  status: Type.Union([Type.Literal('scheduled'), Type.Literal('cancelled')]),
  sequence: Type.Integer({ description: 'iCalendar SEQUENCE of its invites' })
})
export type Meeting = Static<typeof Meeting>

export const MeetingList = Type.Object({ items: Type.Array(Meeting) })

export const DeliveryRecord = Type.Object({
  notificationId: Type.String(),
  recipient: Type.String(),
  kind: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  sentAt: Type.Union([Type.String(), Type.Null()]),
  requestedAt: Type.String()
})
export const DeliveryRecords = Type.Object({ items: Type.Array(DeliveryRecord) })

export const OutboxMessage = Type.Object({
  notificationId: Type.String(),
  to: Type.String(),
  from: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  ics: Type.String(),
  at: Type.String()
})
export const OutboxList = Type.Object({ items: Type.Array(OutboxMessage) })
export const OutboxQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) })
