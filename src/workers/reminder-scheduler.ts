import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, isEvent } from '../store/events.js'
import { loadAggregate } from '../store/subject-reader.js'
import { notificationFor } from '../domain/notifications.js'
import { evolve } from '../domain/meeting.js'
import { Events } from '../schema/events/index.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/**
 * Reminders as due-time events: each meeting.scheduled / .rescheduled is held (a delayed
 * redelivery of the durable consumer, so it survives restarts and is handled once across
 * instances) until REMINDER_LEAD before its start. Then, if the meeting is not cancelled and
 * still starts at that time, every current participant gets one reminder, keyed by
 * (meeting, start time, recipient). A meeting created inside the lead window is due at once.
 */
export function reminderSchedulerWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, leadMs: number, publicUrl: string }): Worker {
  return {
    name: 'reminder-scheduler',
    stream: 'MEETINGS',
    async handle (event) {
      if (!isEvent(event, Events.meetingScheduled) && !isEvent(event, Events.meetingRescheduled)) return
      const { meetingId, startsAt, endsAt } = event.data
      const now = deps.clock.now().getTime()
      const due = Date.parse(startsAt) - deps.leadMs - now
      if (due > 0) return { retryInMs: due }
      if (Date.parse(endsAt) <= now) return // over before it was due: too late to remind
      const meeting = await loadAggregate(deps.js, deps.jsm, 'MEETINGS', Subjects.meeting(meetingId), evolve)
      if (meeting === undefined || meeting.cancelled || Date.parse(meeting.startsAt) !== Date.parse(startsAt)) return
      const link = `${deps.publicUrl}/api/meetings/${meetingId}`
      for (const recipient of meeting.participants) {
        const key = `reminder:${meetingId}:${new Date(startsAt).toISOString()}:${recipient.email.toLowerCase()}`
        await appendEvent(deps.js, {
          def: Events.notificationRequested,
          data: notificationFor('reminder', recipient, meeting, key, link),
          subject: Subjects.notificationRequested(meetingId),
          source: '/jetway/workers/reminder-scheduler',
          about: meetingId,
          idempotencyKey: key,
          causationId: event.id,
          time: deps.clock.now()
        })
      }
    }
  }
}
