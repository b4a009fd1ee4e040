import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { appendEvent, isEvent } from '../store/events.js'
import { loadState } from '../store/command.js'
import { meetingAggregate } from '../domain/meeting.js'
import { notificationFor } from '../domain/notifications.js'
import { Events } from '../schema/events/index.js'
import { MeetingReminderPayload } from '../schema/events/timers.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(MeetingReminderPayload)

/**
 * The effect of a meeting's reminder timer (armed REMINDER_LEAD before its start by
 * meeting.scheduled / .rescheduled, fired as timer.fired on timer.meetings.>): if the meeting
 * is not cancelled, still starts at that time and has not ended, every current participant
 * gets one reminder, keyed by (meeting, start time, recipient).
 */
export function reminderSchedulerWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, publicUrl: string }): Worker {
  return {
    name: 'reminder-scheduler',
    stream: 'MEETINGS',
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'meeting-reminder') return
      const due = event.data.payload
      if (!payloadCheck.Check(due)) throw new Error(`meeting-reminder timer ${event.data.timerId} carries no meeting`)
      if (Date.parse(due.endsAt) <= deps.clock.now().getTime()) return // over before it fired: too late to remind
      const { state: meeting } = await loadState(deps, meetingAggregate, due.meetingId)
      if (meeting === undefined || meeting.cancelled || Date.parse(meeting.startsAt) !== Date.parse(due.startsAt)) return
      const link = `${deps.publicUrl}/api/meetings/${due.meetingId}`
      for (const recipient of meeting.participants) {
        const key = `reminder:${due.meetingId}:${new Date(due.startsAt).toISOString()}:${recipient.email.toLowerCase()}`
        await appendEvent(deps.js, {
          def: Events.notificationRequested,
          data: notificationFor('reminder', recipient, meeting, key, link),
          subject: Subjects.notificationRequested(due.meetingId),
          source: '/jetway/workers/reminder-scheduler',
          about: due.meetingId,
          idempotencyKey: key,
          causationId: event.id,
          time: deps.clock.now()
        })
      }
    }
  }
}
