import { Type, type Static } from '@sinclair/typebox'
import { JobId } from './jobs.js'
import { UserId } from './collect.js'
import { Instant, MeetingId } from './meetings.js'

// Durable timers. A timer is set by a domain event (job.requested sets the job's timeout,
// meeting.scheduled its reminder), kept as a row of the timers read model, and fired by the
// ticker as one timer.fired on timer.<stream>.<timerId>.<setSeq> of the stream that set it.

/** What each kind of timer carries to its effect, so the effect needs no look-up to start. */
export const JobTimeoutPayload = Type.Object({ eventId: JobId, userId: UserId, requestedAt: Instant, deadline: Instant })
export type JobTimeoutPayload = Static<typeof JobTimeoutPayload>

export const MeetingReminderPayload = Type.Object({ meetingId: MeetingId, startsAt: Instant, endsAt: Instant })
export type MeetingReminderPayload = Static<typeof MeetingReminderPayload>

/** task-timeout (its hard cap) and task-heartbeat (re-armed by each heartbeat): the task to check */
export const TaskTimerPayload = Type.Object({ taskId: Type.String({ minLength: 1, maxLength: 64 }) })
export type TaskTimerPayload = Static<typeof TaskTimerPayload>

/** schedule-tick: the schedule and the tick it stands for */
export const ScheduleTickPayload = Type.Object({ scheduleId: Type.String({ minLength: 1, maxLength: 64 }), tick: Instant })
export type ScheduleTickPayload = Static<typeof ScheduleTickPayload>

/** task-callback: an attempt to deliver a task's outcome to its callbackUrl (the first is due at the outcome) */
export const TaskCallbackPayload = Type.Object({ taskId: Type.String({ minLength: 1, maxLength: 64 }), attempt: Type.Integer({ minimum: 1 }) })
export type TaskCallbackPayload = Static<typeof TaskCallbackPayload>

/** RELAY: the next attempt of an async relay request, or of its callback */
export const RelayRetryPayload = Type.Object({ requestId: Type.String(), round: Type.Integer({ minimum: 1 }), attempt: Type.Integer({ minimum: 2 }) })
export type RelayRetryPayload = Static<typeof RelayRetryPayload>

/** RELAY: the next attempt of a trigger's delivery of one broker event */
export const TriggerRetryPayload = Type.Object({ trigger: Type.String(), eventSeq: Type.Integer({ minimum: 1 }), lane: Type.String(), attempt: Type.Integer({ minimum: 2 }) })
export type TriggerRetryPayload = Static<typeof TriggerRetryPayload>

/** What KEEP_FINISHED removes: a finished job, task, deleted schedule, past meeting, relay request or /sync call. */
export const FinishedAggregate = Type.Union([
  Type.Literal('job'), Type.Literal('task'), Type.Literal('schedule'), Type.Literal('meeting'), Type.Literal('relay-request'), Type.Literal('relay-sync')
])
export type FinishedAggregate = Static<typeof FinishedAggregate>

/**
 * expiry (KEEP_FINISHED): remove a finished thing from its stream and the read models. Armed
 * when it finished; a task or relay request whose outcome still has a callback to deliver is
 * re-armed when that callback is settled, and its effect waits for that.
 */
export const ExpiryPayload = Type.Object({
  aggregate: FinishedAggregate,
  id: Type.String({ minLength: 1, maxLength: 200 }),
  waitsForCallback: Type.Optional(Type.Boolean())
})
export type ExpiryPayload = Static<typeof ExpiryPayload>

export const TimerKind = Type.Union([
  Type.Literal('job-timeout'), Type.Literal('meeting-reminder'),
  Type.Literal('task-timeout'), Type.Literal('task-heartbeat'), Type.Literal('schedule-tick'), Type.Literal('task-callback'),
  Type.Literal('relay-retry'), Type.Literal('relay-callback-retry'), Type.Literal('trigger-retry'),
  Type.Literal('expiry')
])
export type TimerKind = Static<typeof TimerKind>

/** timer.fired v1: a timer came due. Appended once per arming (the subject must be empty). */
export const TimerFired = Type.Object({
  timerId: Type.String({ minLength: 1, maxLength: 300 }),
  kind: TimerKind,
  /** when it was due; the effect re-checks current state, so a late firing is still safe */
  dueAt: Instant,
  /** stream sequence of the event that armed it */
  setSeq: Type.Integer({ minimum: 1 }),
  payload: Type.Record(Type.String(), Type.Unknown())
})
export type TimerFired = Static<typeof TimerFired>
