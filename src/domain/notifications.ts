import { createHash } from 'node:crypto'
import type { MeetingState } from './meeting.js'
import type { NotificationKind, NotificationRequested, NotificationRequestedV2 } from '../schema/events/notify.js'
import type { Participant } from '../schema/events/meetings.js'

// Which emails a meeting event causes, as notification.requested data. Pure.

/** Stable id of a notification, from the key that makes it idempotent. */
export function notificationIdOf (key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32)
}

const SUBJECTS: Record<NotificationKind, (title: string) => string> = {
  invite: t => `Invitation: ${t}`,
  update: t => `Updated: ${t}`,
  cancel: t => `Cancelled: ${t}`,
  reminder: t => `Reminder: ${t} starts soon`
}

export function notificationFor (kind: NotificationKind, recipient: Participant, meeting: MeetingState, key: string, link: string): NotificationRequested {
  const when = `${meeting.startsAt} – ${meeting.endsAt}`
  const lines = [
    kind === 'cancel' ? `The meeting "${meeting.title}" is cancelled.` : `${meeting.organizer.name ?? meeting.organizer.email} ${kind === 'reminder' ? 'reminds you of' : kind === 'update' ? 'changed' : 'invites you to'} "${meeting.title}".`,
    `When: ${when}`,
    `Where: ${meeting.location}`,
    ...(meeting.description === '' ? [] : ['', meeting.description]),
    '',
    `Details: ${link}`
  ]
  return {
    notificationId: notificationIdOf(key),
    channel: 'EMAIL',
    kind,
    recipients: [recipient],
    message: { subject: SUBJECTS[kind](meeting.title), text: lines.join('\n') },
    metadata: {
      meetingId: meeting.meetingId,
      title: meeting.title,
      startsAt: meeting.startsAt,
      endsAt: meeting.endsAt,
      location: meeting.location,
      description: meeting.description,
      link,
      organizer: { email: meeting.organizer.email, name: meeting.organizer.name },
      attendees: meeting.participants,
      sequence: meeting.sequence,
      method: kind === 'cancel' ? 'CANCEL' : 'REQUEST'
    }
  }
}

/** A v1 request (always a meeting's) read as v2: about the meeting, its metadata as the calendar. */
export function asV2 (n: NotificationRequested): NotificationRequestedV2 {
  return {
    notificationId: n.notificationId,
    channel: n.channel,
    kind: n.kind,
    recipients: n.recipients,
    message: n.message,
    about: { type: 'meeting', id: n.metadata.meetingId },
    calendar: n.metadata
  }
}
