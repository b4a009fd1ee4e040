import { Type, type Static } from '@sinclair/typebox'
import { Email, Instant } from './meetings.js'

// Seed 003: wait-for-callback tasks and the schedules that create them, on stream TASKS.
// Every event of one task on tasks.<taskId> (the aggregate, written with the expected last
// subject sequence); its callback deliveries on tasks.<taskId>.callback; every event of one
// schedule on schedules.<scheduleId>.

/** Jetway issues 32 hex digits; the pattern keeps every id a single, readable subject token. */
export const TaskId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
export const ScheduleId = TaskId
/** no control characters */
const PLAIN = '^[^\\u0000-\\u001F\\u007F]*$'
export const TaskType = Type.String({ minLength: 1, maxLength: 128, pattern: PLAIN })
export const TaskTitle = Type.String({ maxLength: 200, pattern: PLAIN })
export const Owner = Type.String({ minLength: 1, maxLength: 200, pattern: PLAIN })
/** the task's input: any JSON object (its JSON text is at most 256 KiB, checked at the edge) */
export const TaskInput = Type.Record(Type.String(), Type.Unknown())
export const Approvers = Type.Array(Email, { maxItems: 50 })
/** Step Functions' bounds: 1 second to 99999999 seconds */
export const Seconds = Type.Integer({ minimum: 1, maximum: 99_999_999 })
export const CallbackUrl = Type.String({ maxLength: 2048, pattern: '^https?://' })
/** Step Functions' bounds of SendTaskFailure */
export const TaskErrorName = Type.String({ maxLength: 256 })
export const TaskCause = Type.String({ maxLength: 32_768 })

/** Who closed a task: a holder of its task token (a system), or one approver through the email page. */
export const DecidedBy = Type.Union([
  Type.Object({ via: Type.Literal('token'), actor: Type.Optional(Type.String()) }),
  Type.Object({ via: Type.Literal('approval'), approver: Email }),
  Type.Object({ via: Type.Literal('timer') })
])
export type DecidedBy = Static<typeof DecidedBy>

/** task.created v1: the task waits from here. The deadline is createdAt + timeoutSeconds. */
export const TaskCreated = Type.Object({
  taskId: TaskId,
  owner: Owner,
  type: TaskType,
  title: TaskTitle,
  input: TaskInput,
  /** lower-cased, duplicates folded; the index of each is part of its approval link */
  approvers: Approvers,
  timeoutSeconds: Seconds,
  deadline: Instant,
  heartbeatSeconds: Type.Optional(Seconds),
  callbackUrl: Type.Optional(CallbackUrl),
  /** set when a schedule's tick created it */
  schedule: Type.Optional(Type.Object({ scheduleId: ScheduleId, tick: Instant }))
})
export type TaskCreated = Static<typeof TaskCreated>

/** task.heartbeat.received v1: the task is alive; with heartbeatSeconds it re-arms the heartbeat deadline. */
export const TaskHeartbeatReceived = Type.Object({
  taskId: TaskId,
  owner: Owner,
  heartbeatDeadline: Type.Optional(Instant)
})
export type TaskHeartbeatReceived = Static<typeof TaskHeartbeatReceived>

/** task.succeeded v1 (SendTaskSuccess, or an approval) */
export const TaskSucceeded = Type.Object({
  taskId: TaskId,
  owner: Owner,
  /** any JSON value; its JSON text is at most 256 KiB */
  output: Type.Unknown(),
  decidedBy: DecidedBy,
  /** the task's callbackUrl, where this outcome is delivered */
  callbackUrl: Type.Optional(CallbackUrl)
})
export type TaskSucceeded = Static<typeof TaskSucceeded>

/** task.failed v1 (SendTaskFailure, or a rejection: error "Rejected") */
export const TaskFailed = Type.Object({
  taskId: TaskId,
  owner: Owner,
  error: Type.Optional(TaskErrorName),
  cause: Type.Optional(TaskCause),
  decidedBy: DecidedBy,
  callbackUrl: Type.Optional(CallbackUrl)
})
export type TaskFailed = Static<typeof TaskFailed>

export const TimeoutError = Type.Union([Type.Literal('States.Timeout'), Type.Literal('States.HeartbeatTimeout')])
export type TimeoutError = Static<typeof TimeoutError>

/** task.timed_out v1: the deadline, or the heartbeat deadline, passed first */
export const TaskTimedOut = Type.Object({
  taskId: TaskId,
  owner: Owner,
  error: TimeoutError,
  cause: Type.String(),
  callbackUrl: Type.Optional(CallbackUrl)
})
export type TaskTimedOut = Static<typeof TaskTimedOut>

/** What every outcome's callback carries (the body POSTed to callbackUrl). */
export const CallbackAttempt = {
  taskId: TaskId,
  /** Standard Webhooks `webhook-id`: the same on every attempt of one outcome */
  webhookId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  url: CallbackUrl
}

/** task.callback.delivered v1: the callbackUrl answered 2xx */
export const TaskCallbackDelivered = Type.Object({ ...CallbackAttempt, statusCode: Type.Integer() })
export type TaskCallbackDelivered = Static<typeof TaskCallbackDelivered>

/**
 * task.callback.failed v1: one attempt failed. Not `final`: the next attempt is due at
 * `retryAt` (a durable timer). `final`: no attempt follows; the message is dead-lettered.
 */
export const TaskCallbackFailed = Type.Object({
  ...CallbackAttempt,
  statusCode: Type.Optional(Type.Integer()),
  error: Type.String({ maxLength: 1000 }),
  final: Type.Boolean(),
  retryAt: Type.Optional(Instant)
})
export type TaskCallbackFailed = Static<typeof TaskCallbackFailed>

/** A schedule's task: the body of POST /api/tasks without the owner (the schedule's owner). */
export const TaskTemplate = Type.Object({
  type: TaskType,
  title: Type.Optional(TaskTitle),
  input: Type.Optional(TaskInput),
  approvers: Type.Optional(Approvers),
  timeoutSeconds: Type.Optional(Seconds),
  heartbeatSeconds: Type.Optional(Seconds),
  callbackUrl: Type.Optional(CallbackUrl)
}, { additionalProperties: false })
export type TaskTemplate = Static<typeof TaskTemplate>

export const ScheduleName = Type.String({ minLength: 1, maxLength: 200, pattern: PLAIN })
export const Cron = Type.String({ minLength: 1, maxLength: 200, pattern: PLAIN })
export const TimeZone = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+/-]+$' })

/** schedule.created v1: arms its first tick */
export const ScheduleCreated = Type.Object({
  scheduleId: ScheduleId,
  owner: Owner,
  name: ScheduleName,
  cron: Cron,
  timezone: TimeZone,
  task: TaskTemplate,
  /** the first tick; null when the pattern never fires again */
  nextTick: Type.Union([Instant, Type.Null()])
})
export type ScheduleCreated = Static<typeof ScheduleCreated>

/**
 * schedule.ticked v1: one tick's effect, and the next tick armed. `taskId` is the task it
 * created; a tick found too late (no instance ran at its time) is `skipped` and creates none.
 */
export const ScheduleTicked = Type.Object({
  scheduleId: ScheduleId,
  tick: Instant,
  taskId: Type.Optional(TaskId),
  skipped: Type.Boolean(),
  nextTick: Type.Union([Instant, Type.Null()])
})
export type ScheduleTicked = Static<typeof ScheduleTicked>

/** schedule.deleted v1: no tick fires after it */
export const ScheduleDeleted = Type.Object({ scheduleId: ScheduleId })
export type ScheduleDeleted = Static<typeof ScheduleDeleted>
