import { isEvent, type StoredEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Events, decision, type Decided } from '../schema/events/index.js'
import type { DecidedBy, TaskCreated, TaskTemplate, TimeoutError } from '../schema/events/tasks.js'
import type { Aggregate } from '../store/command.js'
import { Subjects } from '../store/subjects.js'

// The task aggregate (seed 003's .waitForTaskToken), pure: evolve folds its events, decide says
// which events a command appends. Step Functions' rules: timeoutSeconds is a hard cap whatever
// the heartbeats; heartbeatSeconds is the longest gap between heartbeats; the first completion
// wins, and anything after it is TaskTimedOut. A completion that arrives after a deadline passed
// (before its timer fired) appends task.timed_out itself: the deadline, not the timer, decides.

export type TaskStatus = 'WAITING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT'

export interface TaskState extends TaskCreated {
  status: TaskStatus
  createdAt: string
  heartbeatDeadline?: string
  lastHeartbeatAt?: string
  output?: unknown
  error?: string
  cause?: string
  decidedBy?: DecidedBy
  decidedAt?: string
  /** stream sequence of the task's last event: its ETag */
  version: number
}

/** A completion for a task that is not there: Step Functions' TaskDoesNotExist. */
export class TaskNotFound extends JetwayError {
  override name = 'TaskNotFound'
  constructor () {
    super(ErrorCodes.notFound, 'no such task (TaskDoesNotExist)')
  }
}

/** A completion or heartbeat for a closed task: Step Functions' TaskTimedOut. */
export class TaskClosed extends JetwayError {
  override name = 'TaskClosed'
  constructor (readonly taskId: string, readonly status: TaskStatus) {
    super(ErrorCodes.conflict, `task ${taskId} is ${status}: it takes no completion or heartbeat (TaskTimedOut)`)
  }
}

export function evolve (state: TaskState | undefined, ev: StoredEvent): TaskState | undefined {
  if (isEvent(ev, Events.taskCreated)) {
    if (state !== undefined) return state
    const heartbeatDeadline = ev.data.heartbeatSeconds === undefined ? undefined : new Date(Date.parse(ev.time) + ev.data.heartbeatSeconds * 1000).toISOString()
    return { ...ev.data, status: 'WAITING', createdAt: ev.time, ...(heartbeatDeadline === undefined ? {} : { heartbeatDeadline }), version: ev.seq }
  }
  if (state === undefined) return undefined
  const next: TaskState = { ...state, version: ev.seq }
  if (isEvent(ev, Events.taskHeartbeatReceived)) {
    return { ...next, lastHeartbeatAt: ev.time, ...(ev.data.heartbeatDeadline === undefined ? {} : { heartbeatDeadline: ev.data.heartbeatDeadline }) }
  }
  if (isEvent(ev, Events.taskSucceeded)) return { ...next, status: 'SUCCEEDED', output: ev.data.output, decidedBy: ev.data.decidedBy, decidedAt: ev.time }
  if (isEvent(ev, Events.taskFailed)) {
    return { ...next, status: 'FAILED', error: ev.data.error, cause: ev.data.cause, decidedBy: ev.data.decidedBy, decidedAt: ev.time }
  }
  if (isEvent(ev, Events.taskTimedOut)) {
    return { ...next, status: 'TIMED_OUT', error: ev.data.error, cause: ev.data.cause, decidedBy: { via: 'timer' }, decidedAt: ev.time }
  }
  return next
}

export type TaskCommand =
  | { kind: 'create', data: TaskCreated }
  | { kind: 'succeed', at: Date, output: unknown, by: DecidedBy }
  | { kind: 'fail', at: Date, error?: string, cause?: string, by: DecidedBy }
  | { kind: 'heartbeat', at: Date }
  /** a timer came due: times the task out if one of its deadlines has passed */
  | { kind: 'expire', at: Date }

/** Which deadline has passed at `at`, if any: the hard cap first. */
export function expiredAt (state: TaskState, at: Date): TimeoutError | undefined {
  if (at.getTime() >= Date.parse(state.deadline)) return 'States.Timeout'
  if (state.heartbeatDeadline !== undefined && at.getTime() >= Date.parse(state.heartbeatDeadline)) return 'States.HeartbeatTimeout'
  return undefined
}

export function decide (state: TaskState | undefined, command: TaskCommand): Decided {
  if (command.kind === 'create') {
    // the same id again (an Idempotency-Key retry, a schedule tick redelivered) changes nothing
    return state === undefined ? [decision(Events.taskCreated, command.data)] : []
  }
  if (state === undefined) {
    if (command.kind === 'expire') return []
    throw new TaskNotFound()
  }
  if (state.status !== 'WAITING') {
    if (command.kind === 'expire') return []
    throw new TaskClosed(state.taskId, state.status)
  }
  const { taskId, owner } = state
  // an outcome names where it will be delivered, so its callback timer needs no look-up
  const callback = state.callbackUrl === undefined ? {} : { callbackUrl: state.callbackUrl }
  const expired = expiredAt(state, command.at)
  if (expired !== undefined) {
    const cause = expired === 'States.Timeout'
      ? `no completion within timeoutSeconds (${state.timeoutSeconds})`
      : `no heartbeat within heartbeatSeconds (${state.heartbeatSeconds ?? 0})`
    return [decision(Events.taskTimedOut, { taskId, owner, error: expired, cause, ...callback })]
  }
  switch (command.kind) {
    case 'expire':
      return [] // a heartbeat moved the deadline the timer stood for
    case 'heartbeat': {
      const heartbeatDeadline = state.heartbeatSeconds === undefined ? undefined : new Date(command.at.getTime() + state.heartbeatSeconds * 1000).toISOString()
      return [decision(Events.taskHeartbeatReceived, { taskId, owner, ...(heartbeatDeadline === undefined ? {} : { heartbeatDeadline }) })]
    }
    case 'succeed':
      return [decision(Events.taskSucceeded, { taskId, owner, output: command.output, decidedBy: command.by, ...callback })]
    case 'fail':
      return [decision(Events.taskFailed, {
        taskId,
        owner,
        ...(command.error === undefined ? {} : { error: command.error }),
        ...(command.cause === undefined ? {} : { cause: command.cause }),
        decidedBy: command.by,
        ...callback
      })]
  }
}

/** A task as the command handler sees it: every event on tasks.<id>. */
export const taskAggregate: Aggregate<TaskState, TaskCommand> = {
  stream: 'TASKS',
  subject: Subjects.task,
  evolve,
  decide
}

/** Approvers as a task keeps them: lower-cased, each once, in the order given. */
export function foldApprovers (emails: readonly string[]): string[] {
  return [...new Set(emails.map(e => e.toLowerCase()))]
}

/** The task.created of a new task: from POST /api/tasks, or from a schedule's template. */
export function newTask (taskId: string, owner: string, t: TaskTemplate, now: Date, defaultTimeoutMs: number, schedule?: { scheduleId: string, tick: string }): TaskCreated {
  const timeoutSeconds = t.timeoutSeconds ?? Math.max(1, Math.min(99_999_999, Math.round(defaultTimeoutMs / 1000)))
  return {
    taskId,
    owner,
    type: t.type,
    title: t.title ?? t.type,
    input: t.input ?? {},
    approvers: foldApprovers(t.approvers ?? []),
    timeoutSeconds,
    deadline: new Date(now.getTime() + timeoutSeconds * 1000).toISOString(),
    ...(t.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: t.heartbeatSeconds }),
    ...(t.callbackUrl === undefined ? {} : { callbackUrl: t.callbackUrl }),
    ...(schedule === undefined ? {} : { schedule })
  }
}

/** heartbeatSeconds must be below timeoutSeconds (the default timeout when none is given). */
export function checkTemplate (t: TaskTemplate, defaultTimeoutMs: number, prefix = ''): void {
  const timeout = t.timeoutSeconds ?? defaultTimeoutMs / 1000
  if (t.heartbeatSeconds !== undefined && t.heartbeatSeconds >= timeout) {
    throw new JetwayError(ErrorCodes.validation, `heartbeatSeconds (${t.heartbeatSeconds}) must be less than timeoutSeconds (${timeout})`,
      [{ field: `${prefix}heartbeatSeconds`, message: 'must be less than timeoutSeconds' }])
  }
  const size = Buffer.byteLength(JSON.stringify(t.input ?? {}))
  if (size > MAX_JSON_BYTES) {
    throw new JetwayError(ErrorCodes.validation, `input is ${size} bytes of JSON; at most ${MAX_JSON_BYTES}`, [{ field: `${prefix}input`, message: 'must be at most 256 KiB of JSON' }])
  }
}

/** Step Functions' limit of a task's input and output: 256 KiB of JSON text. */
export const MAX_JSON_BYTES = 256 * 1024
