import { isEvent, type StoredEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Events, decision, type Decided } from '../schema/events/index.js'
import type { MeetingScheduled, Organizer, Participant } from '../schema/events/meetings.js'
import type { Aggregate } from '../store/command.js'
import { Subjects } from '../store/subjects.js'

// The meeting aggregate, pure: evolve(state, event) folds its events; decide(state, command)
// says which events a command appends. No NATS, no SQLite, no clock.

export interface MeetingState {
  meetingId: string
  title: string
  startsAt: string
  endsAt: string
  location: string
  description: string
  organizer: Organizer
  participants: Participant[]
  cancelled: boolean
  /** iCalendar SEQUENCE: 0 at scheduling, +1 per update, reschedule or cancel */
  sequence: number
  /** stream sequence of the meeting's last event: its ETag */
  version: number
}

export function evolve (state: MeetingState | undefined, ev: StoredEvent): MeetingState | undefined {
  if (isEvent(ev, Events.meetingScheduled)) {
    return { ...ev.data, cancelled: false, sequence: 0, version: ev.seq }
  }
  if (state === undefined) return undefined
  const next = { ...state, version: ev.seq }
  if (isEvent(ev, Events.meetingUpdated) || isEvent(ev, Events.meetingRescheduled)) {
    const { meetingId: _id, ...changes } = ev.data
    return { ...next, ...changes, sequence: state.sequence + 1 }
  }
  if (isEvent(ev, Events.participantAdded)) {
    return { ...next, participants: foldParticipants([...state.participants, ...ev.data.participants]) }
  }
  if (isEvent(ev, Events.participantRemoved)) {
    return { ...next, participants: state.participants.filter(p => p.email.toLowerCase() !== ev.data.email.toLowerCase()) }
  }
  if (isEvent(ev, Events.meetingCancelled)) return { ...next, cancelled: true, sequence: state.sequence + 1 }
  return next
}

/** Participants with duplicate emails (any case) folded into the first. */
export function foldParticipants (participants: Participant[]): Participant[] {
  const seen = new Map<string, Participant>()
  for (const p of participants) {
    const key = p.email.toLowerCase()
    if (!seen.has(key)) seen.set(key, p)
  }
  return [...seen.values()]
}

export type MeetingCommand =
  | { kind: 'schedule', data: MeetingScheduled }
  | { kind: 'update', title?: string, startsAt?: string, endsAt?: string, location?: string, description?: string }
  | { kind: 'addParticipants', participants: Participant[] }
  | { kind: 'removeParticipant', email: string }
  | { kind: 'cancel', reason?: string }

/** A meeting ends after it starts: the one check of every command that sets its times. */
function checkTimes (startsAt: string, endsAt: string): void {
  if (Date.parse(endsAt) <= Date.parse(startsAt)) {
    throw new JetwayError(ErrorCodes.validation, 'endsAt must be after startsAt', [{ field: 'endsAt', message: 'must be after startsAt' }])
  }
}

/** The event a command appends: none when nothing changes. */
export function decide (state: MeetingState | undefined, command: MeetingCommand): Decided {
  if (command.kind === 'schedule') {
    checkTimes(command.data.startsAt, command.data.endsAt)
    // scheduling again under the same id (an Idempotency-Key retry) changes nothing
    if (state !== undefined) return []
    return [decision(Events.meetingScheduled, { ...command.data, participants: foldParticipants(command.data.participants) })]
  }
  if (state === undefined) throw new JetwayError(ErrorCodes.notFound, 'no such meeting')
  if (state.cancelled) throw new JetwayError(ErrorCodes.conflict, 'the meeting is cancelled')
  const meetingId = state.meetingId
  switch (command.kind) {
    case 'update': {
      const startsAt = command.startsAt ?? state.startsAt
      // a new start alone keeps the meeting's length
      const endsAt = command.endsAt ?? (command.startsAt === undefined
        ? state.endsAt
        : new Date(Date.parse(command.startsAt) + Date.parse(state.endsAt) - Date.parse(state.startsAt)).toISOString())
      checkTimes(startsAt, endsAt)
      const changes: { title?: string, location?: string, description?: string } = {}
      if (command.title !== undefined && command.title !== state.title) changes.title = command.title
      if (command.location !== undefined && command.location !== state.location) changes.location = command.location
      if (command.description !== undefined && command.description !== state.description) changes.description = command.description
      const moved = Date.parse(startsAt) !== Date.parse(state.startsAt) || Date.parse(endsAt) !== Date.parse(state.endsAt)
      if (moved) return [decision(Events.meetingRescheduled, { meetingId, startsAt, endsAt, ...changes })]
      if (Object.keys(changes).length === 0) return []
      return [decision(Events.meetingUpdated, { meetingId, ...changes })]
    }
    case 'addParticipants': {
      const known = new Set(state.participants.map(p => p.email.toLowerCase()))
      const added = foldParticipants(command.participants).filter(p => !known.has(p.email.toLowerCase()))
      if (added.length === 0) return []
      return [decision(Events.participantAdded, { meetingId, participants: added })]
    }
    case 'removeParticipant': {
      if (!state.participants.some(p => p.email.toLowerCase() === command.email.toLowerCase())) {
        throw new JetwayError(ErrorCodes.notFound, `${command.email} is not a participant`)
      }
      if (state.participants.length === 1) {
        throw new JetwayError(ErrorCodes.conflict, 'a meeting keeps at least one participant: cancel it instead')
      }
      return [decision(Events.participantRemoved, { meetingId, email: command.email })]
    }
    case 'cancel':
      return [decision(Events.meetingCancelled, { meetingId, ...(command.reason === undefined ? {} : { reason: command.reason }) })]
  }
}

/** The meeting as the command handler sees it: every event on meetings.<id>. */
export const meetingAggregate: Aggregate<MeetingState, MeetingCommand> = {
  stream: 'MEETINGS',
  subject: Subjects.meeting,
  evolve,
  decide
}
