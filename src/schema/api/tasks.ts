import { Type, type Static } from '@sinclair/typebox'
import * as events from '../events/tasks.js'
import { Approvers, ScheduleId, Seconds, TaskId, TaskInput, TimeZone } from '../events/tasks.js'
import { MinSeqQuery } from './common.js'
import { NAME_PATTERN, TEXT_PATTERN, UserId } from './fields.js'

// HTTP bodies of callback tasks and schedules (seed 003). Text fields keep the bounds of the
// event schemas and refuse at the edge what fields.ts refuses everywhere (control characters,
// lone surrogates).

const TaskType = Type.String({ minLength: events.TaskType.minLength, maxLength: events.TaskType.maxLength, pattern: NAME_PATTERN })
const TaskTitle = Type.String({ maxLength: events.TaskTitle.maxLength, pattern: NAME_PATTERN })
const TaskErrorName = Type.String({ maxLength: events.TaskErrorName.maxLength, pattern: NAME_PATTERN })
const TaskCause = Type.String({ maxLength: events.TaskCause.maxLength, pattern: TEXT_PATTERN })
const ScheduleName = Type.String({ minLength: 1, maxLength: events.ScheduleName.maxLength, pattern: NAME_PATTERN })
const Cron = Type.String({ minLength: 1, maxLength: events.Cron.maxLength, pattern: NAME_PATTERN, description: '5 fields, or 6 with seconds first (croner syntax)' })
/** printable ASCII without spaces: a URL as sent, checked again by the outbound guard when called */
const CallbackUrl = Type.String({ maxLength: 2048, pattern: '^https?://[\\x21-\\x7E]+$' })
const Owner = Type.String({ minLength: UserId.minLength, maxLength: UserId.maxLength, pattern: UserId.pattern, description: 'AUTH_MODE=off (required to create), or an admin acting for another user' })

/** a schedule's task: the body of POST /api/tasks without the owner */
export const TaskTemplate = Type.Object({
  type: TaskType,
  title: Type.Optional(TaskTitle),
  input: Type.Optional(TaskInput),
  approvers: Type.Optional(Approvers),
  timeoutSeconds: Type.Optional(Seconds),
  heartbeatSeconds: Type.Optional(Seconds),
  callbackUrl: Type.Optional(CallbackUrl)
}, { additionalProperties: false })

export const CreateTask = Type.Object({
  type: TaskType,
  title: Type.Optional(TaskTitle),
  input: TaskInput,
  approvers: Type.Optional(Approvers),
  timeoutSeconds: Type.Optional(Seconds),
  heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 99_999_999, description: 'must be less than timeoutSeconds' })),
  callbackUrl: Type.Optional(CallbackUrl),
  owner: Type.Optional(Owner)
}, { additionalProperties: false })
export type CreateTask = Static<typeof CreateTask>

/** A task token: t1.<taskId>.<mac>; longer or shorter strings are InvalidToken, not a 400 of the schema. */
const TokenField = Type.String({ maxLength: 2048 })

export const SendSuccess = Type.Object({ taskToken: TokenField, output: Type.Unknown({ description: 'any JSON value (at most 256 KiB of JSON text)' }) })
export const SendFailure = Type.Object({ taskToken: TokenField, error: Type.Optional(TaskErrorName), cause: Type.Optional(TaskCause) })
export const SendHeartbeat = Type.Object({ taskToken: TokenField })

export const Completed = Type.Object({
  taskId: Type.String(),
  status: Type.String(),
  version: Type.Integer()
})

export const TaskStatus = Type.Union(['WAITING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT'].map(s => Type.Literal(s)))

export const CallbackAttemptView = Type.Object({
  attempt: Type.Integer(),
  outcome: Type.String({ description: 'delivered or failed' }),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  final: Type.Boolean(),
  at: Type.String()
})

export const Task = Type.Object({
  taskId: Type.String(),
  taskToken: Type.String({ description: 'completes the task: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat' }),
  status: TaskStatus,
  version: Type.Integer({ description: 'the ETag: TASKS sequence of the task\'s last event' }),
  owner: Type.String(),
  type: Type.String(),
  title: Type.String(),
  input: Type.Record(Type.String(), Type.Unknown()),
  output: Type.Optional(Type.Unknown()),
  error: Type.Union([Type.String(), Type.Null()]),
  cause: Type.Union([Type.String(), Type.Null()]),
  decidedBy: Type.Union([Type.Object({ via: Type.String(), approver: Type.Optional(Type.String()), actor: Type.Optional(Type.String()) }), Type.Null()]),
  approvers: Type.Array(Type.String()),
  createdAt: Type.String(),
  decidedAt: Type.Union([Type.String(), Type.Null()]),
  deadline: Type.String(),
  timeoutSeconds: Type.Integer(),
  heartbeatSeconds: Type.Union([Type.Integer(), Type.Null()]),
  heartbeatDeadline: Type.Union([Type.String(), Type.Null()]),
  lastHeartbeatAt: Type.Union([Type.String(), Type.Null()]),
  callbackUrl: Type.Union([Type.String(), Type.Null()]),
  schedule: Type.Union([Type.Object({ scheduleId: Type.String(), tick: Type.String() }), Type.Null()]),
  callbacks: Type.Optional(Type.Array(CallbackAttemptView, { description: 'each delivery attempt of the outcome to callbackUrl' }))
})
export type Task = Static<typeof Task>

export const TaskParams = Type.Object({ id: TaskId })

export const TaskListQuery = Type.Object({
  status: Type.Optional(TaskStatus),
  type: Type.Optional(TaskType),
  owner: Type.Optional(Owner),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ pattern: '^\\d{1,15}$', description: 'nextCursor of the previous page' })),
  ...MinSeqQuery.properties
})

export const TaskList = Type.Object({ items: Type.Array(Task), nextCursor: Type.Union([Type.String(), Type.Null()]) })

export const TaskSseQuery = Type.Object({
  lastEventId: Type.Optional(Type.String({ maxLength: 20 })),
  access_token: Type.Optional(Type.String({ maxLength: 8192 })),
  owner: Type.Optional(Owner)
})

export const CreateSchedule = Type.Object({
  name: ScheduleName,
  cron: Cron,
  timezone: Type.String({ minLength: 1, maxLength: TimeZone.maxLength, pattern: TimeZone.pattern, default: 'UTC', description: 'IANA time zone of the pattern' }),
  task: TaskTemplate,
  owner: Type.Optional(Owner)
}, { additionalProperties: false })
export type CreateSchedule = Static<typeof CreateSchedule>

export const Schedule = Type.Object({
  scheduleId: Type.String(),
  version: Type.Integer(),
  owner: Type.String(),
  name: Type.String(),
  cron: Type.String(),
  timezone: Type.String(),
  task: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String(),
  deleted: Type.Boolean(),
  nextTicks: Type.Array(Type.String(), { description: 'the next fire times (the first is armed)' }),
  lastTick: Type.Union([Type.String(), Type.Null()]),
  lastTaskId: Type.Union([Type.String(), Type.Null()]),
  lastSkipped: Type.Union([Type.Boolean(), Type.Null()])
})
export type Schedule = Static<typeof Schedule>

export const ScheduleParams = Type.Object({ id: ScheduleId })
export const ScheduleListQuery = Type.Object({
  owner: Type.Optional(Owner),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ pattern: '^\\d{1,15}$' })),
  ...MinSeqQuery.properties
})
export const ScheduleList = Type.Object({ items: Type.Array(Schedule), nextCursor: Type.Union([Type.String(), Type.Null()]) })
