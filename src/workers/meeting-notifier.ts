import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, isEvent } from '../store/events.js'
import { readSubject } from '../store/subject-reader.js'
import { notificationFor } from '../domain/notifications.js'
import { evolve } from '../domain/meeting.js'
import { Events } from '../schema/events/index.js'
import type { NotificationKind } from '../schema/events/notify.js'
import type { Participant } from '../schema/events/meetings.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/**
 * MEETINGS -> NOTIFY: each meeting event requests its emails, one notification.requested per
 * recipient, keyed by the causing event so a redelivery requests nothing new.
 * scheduled: invite all; updated/rescheduled: update all; participant_added: invite the added;
 * participant_removed: cancel to the removed; cancelled: cancel to all.
 */
export function meetingNotifierWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, publicUrl: string }): Worker {
  return {
    name: 'meeting-notifier',
    stream: 'MEETINGS',
    async handle (event) {
      const meetingId = (event.data as { meetingId?: unknown } | null)?.meetingId
      if (typeof meetingId !== 'string') return
      // one pass over the meeting's subject, up to this event: the state before it and after it
      const events = await readSubject(deps.js, deps.jsm, 'MEETINGS', Subjects.meeting(meetingId), event.seq)
      const before = events.slice(0, -1).reduce(evolve, undefined)
      const after = events.length === 0 ? undefined : evolve(before, events.at(-1)!)
      if (after === undefined) return
      let kind: NotificationKind
      let recipients: Participant[]
      if (isEvent(event, Events.meetingScheduled)) [kind, recipients] = ['invite', after.participants]
      else if (isEvent(event, Events.meetingUpdated) || isEvent(event, Events.meetingRescheduled)) [kind, recipients] = ['update', after.participants]
      else if (isEvent(event, Events.participantAdded)) [kind, recipients] = ['invite', event.data.participants]
      else if (isEvent(event, Events.participantRemoved)) {
        const email = event.data.email.toLowerCase()
        kind = 'cancel'
        recipients = (before?.participants ?? []).filter(p => p.email.toLowerCase() === email)
      } else if (isEvent(event, Events.meetingCancelled)) [kind, recipients] = ['cancel', before?.participants ?? after.participants]
      else return
      const link = `${deps.publicUrl}/api/meetings/${meetingId}`
      for (const recipient of recipients) {
        const key = `notify:${event.id}:${recipient.email.toLowerCase()}`
        await appendEvent(deps.js, {
          def: Events.notificationRequested,
          data: notificationFor(kind, recipient, after, key, link),
          subject: Subjects.notificationRequested(meetingId),
          source: '/jetway/workers/meeting-notifier',
          about: meetingId,
          idempotencyKey: key,
          causationId: event.id,
          correlationId: event.correlationId,
          time: deps.clock.now()
        })
      }
    }
  }
}
