import { Type, type Static } from '@sinclair/typebox'

// Seed 004: meetings with participants; every event of a meeting on meetings.<meetingId>.
export const MeetingId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 })
export const PersonName = Type.String({ maxLength: 200 })
export const Title = Type.String({ minLength: 1, maxLength: 200 })
export const Location = Type.String({ maxLength: 500 })
export const Description = Type.String({ maxLength: 5000 })
export const Instant = Type.String({ format: 'date-time', description: 'ISO 8601 with an offset' })

export const Participant = Type.Object({ email: Email, name: Type.Optional(PersonName) })
export type Participant = Static<typeof Participant>

export const Organizer = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 200 }), email: Email, name: Type.Optional(PersonName) })
export type Organizer = Static<typeof Organizer>

/** meeting.scheduled v1 */
export const MeetingScheduled = Type.Object({
  meetingId: MeetingId,
  title: Title,
  startsAt: Instant,
  endsAt: Instant,
  location: Location,
  description: Description,
  organizer: Organizer,
  participants: Type.Array(Participant, { minItems: 1, maxItems: 500 })
})
export type MeetingScheduled = Static<typeof MeetingScheduled>

const Changes = {
  title: Type.Optional(Title),
  location: Type.Optional(Location),
  description: Type.Optional(Description)
}

/** meeting.updated v1: title, location or description changed */
export const MeetingUpdated = Type.Object({ meetingId: MeetingId, ...Changes })
export type MeetingUpdated = Static<typeof MeetingUpdated>

/** meeting.rescheduled v1: new times (and any other changes made with them) */
export const MeetingRescheduled = Type.Object({ meetingId: MeetingId, startsAt: Instant, endsAt: Instant, ...Changes })
export type MeetingRescheduled = Static<typeof MeetingRescheduled>

/** meeting.participant_added v1 */
export const ParticipantAdded = Type.Object({ meetingId: MeetingId, participants: Type.Array(Participant, { minItems: 1, maxItems: 500 }) })
export type ParticipantAdded = Static<typeof ParticipantAdded>

/** meeting.participant_removed v1 */
export const ParticipantRemoved = Type.Object({ meetingId: MeetingId, email: Email })
export type ParticipantRemoved = Static<typeof ParticipantRemoved>

/** meeting.cancelled v1 */
export const MeetingCancelled = Type.Object({ meetingId: MeetingId, reason: Type.Optional(Type.String({ maxLength: 1000 })) })
export type MeetingCancelled = Static<typeof MeetingCancelled>
