import type { JsMsg } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent, isEvent, type StoredEvent } from '../store/events.js'
import { loadState } from '../store/command.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Subjects } from '../store/subjects.js'
import { taskAggregate, type TaskState } from '../domain/task.js'
import { Events } from '../schema/events/index.js'
import { TaskCallbackPayload } from '../schema/events/timers.js'
import { VersionConflict } from '../lib/errors.js'
import type { DeliveryRetry } from '../domain/delivery.js'
import { REPLAY_HEADER } from './dead-letters.js'
import { performAttempt, type AttemptDeps, type FailedAttempt } from './outbound-attempt.js'
import type { Worker } from './worker.js'

// A task's outcome, POSTed to its callbackUrl ("return to main processing" for a process that
// would rather be called than listen on SSE). Through the one outbound client (SSRF guard, no
// redirects, limits), signed per Standard Webhooks with WEBHOOK_SECRET (webhook-id the same on
// every attempt). Each attempt is an event on tasks.<id>.callback, visible on the task; a
// failed one that may succeed later arms the next attempt as a durable timer (no message is
// held meanwhile); after the last attempt, or at once for an answer that will never change
// (a 4xx, a refused address), the message is dead-lettered for `npm run dlq -- replay`.

const payloadCheck = TypeCompiler.Compile(TaskCallbackPayload)

export interface TaskCallbackDeps extends AttemptDeps {
  log: Logger
  /** sign with WEBHOOK_SECRET (the outbound client's); unset: deliveries go unsigned */
  signed: boolean
  /** how a callback is retried (TASK_CALLBACK_RETRY, _BACKOFF_POLICY, _BACKOFF_DELAY, _MAX_RETRY_AFTER) */
  policy: DeliveryRetry
}

const TYPES = { SUCCEEDED: 'task.succeeded', FAILED: 'task.failed', TIMED_OUT: 'task.timed_out' } as const

/** The body POSTed to callbackUrl: Standard Webhooks' {type, timestamp, data}. */
export function callbackBody (task: TaskState): { type: string, timestamp: string, data: Record<string, unknown> } {
  return {
    type: TYPES[task.status as keyof typeof TYPES],
    timestamp: task.decidedAt ?? new Date().toISOString(),
    data: {
      taskId: task.taskId,
      status: task.status,
      type: task.type,
      title: task.title,
      owner: task.owner,
      ...(task.status === 'SUCCEEDED' ? { output: task.output ?? null } : { error: task.error ?? null, cause: task.cause ?? null }),
      decidedBy: task.decidedBy ?? null,
      createdAt: task.createdAt,
      decidedAt: task.decidedAt ?? null,
      ...(task.schedule === undefined ? {} : { schedule: task.schedule })
    }
  }
}

export function webhookIdOf (taskId: string): string {
  return `task-outcome-${taskId}`
}

function callbackDelivery (deps: TaskCallbackDeps, worker: string) {
  const log = deps.log.child({ component: 'task-callbacks', worker })

  /** Attempt `attempt` of the task's callback, unless it happened already or the delivery is over. */
  return async function deliver (taskId: string, attempt: number, event: StoredEvent, msg: JsMsg): Promise<void> {
    const subject = Subjects.taskCallback(taskId)
    const last = await lastOnSubject(deps.jsm, 'TASKS', subject)
    const previous = last === null ? undefined : decodeEvent(last)
    const replay = msg.headers?.get(REPLAY_HEADER) ?? ''
    if (previous !== undefined && isEvent(previous, Events.taskCallbackDelivered)) return
    if (previous !== undefined && isEvent(previous, Events.taskCallbackFailed)) {
      if (previous.data.final) {
        // an operator's replay from the DLQ means "try once more"
        if (replay === '') return
        attempt = previous.data.attempt + 1
      } else if (previous.data.attempt >= attempt) {
        return // this attempt was made (a redelivery)
      }
    }
    const { state: task } = await loadState(deps, taskAggregate, taskId)
    if (task === undefined || task.status === 'WAITING' || task.callbackUrl === undefined) return
    const url = task.callbackUrl
    const base = { taskId, webhookId: webhookIdOf(taskId), attempt, url }
    const common = { subject, source: `/jetway/workers/${worker}`, about: taskId, causationId: event.id, correlationId: event.correlationId, expectLastSubjectSeq: last?.seq ?? 0 }
    const record = async (d: Omit<Parameters<typeof appendEvent>[1], keyof typeof common | 'time'>): Promise<boolean> => {
      try {
        await appendEvent(deps.js, { ...common, ...d, time: deps.clock.now() })
        return true
      } catch (err) {
        // another delivery of the same attempt recorded it first
        if (err instanceof VersionConflict) return false
        throw err
      }
    }
    const failedKey = `callback:${taskId}:${attempt}:failed${replay === '' ? '' : `:replay:${replay}`}`
    const failed = ({ reason, response }: FailedAttempt) => ({ ...base, ...(response === undefined ? {} : { statusCode: response.status }), error: reason.slice(0, 1000) })
    await performAttempt(deps, {
      request: {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(callbackBody(task)),
        ...(deps.signed ? { webhook: { id: base.webhookId } } : {})
      },
      attempt,
      // an operator's replay is one attempt more, with no retry after it
      policy: replay === '' ? deps.policy : { ...deps.policy, retry: 0 },
      // given up (an answer that will not change, or the last attempt): the timer.fired goes to DLQ, for a replay
      deadLetter: { stream: 'TASKS', consumer: worker, seq: msg.seq, on: 'any', error: f => `callback to ${url} failed: ${f.reason}` },
      record: {
        delivered: async (_timing, res) => {
          await record({ def: Events.taskCallbackDelivered, data: { ...base, statusCode: res.status }, idempotencyKey: `callback:${taskId}:${attempt}:delivered` })
        },
        retrying: async (f, { nextAttemptAt, backoffMs }) => {
          if (await record({ def: Events.taskCallbackFailed, data: { ...failed(f), final: false, retryAt: nextAttemptAt }, idempotencyKey: failedKey })) {
            log.warn({ taskId, attempt, error: f.reason, retryInMs: backoffMs }, 'task callback failed; will retry')
          }
        },
        gaveUp: async (f, { dlqSeq }) => {
          if (await record({ def: Events.taskCallbackFailed, data: { ...failed(f), final: true }, idempotencyKey: failedKey })) {
            log.error({ taskId, attempt, error: f.reason, dlqSeq }, 'task callback failed for good: dead-lettered')
          }
        }
      }
    })
  }
}

/**
 * Consumer `task-callbacks`: the task-callback timers (timer.fired on timer.tasks.>), armed at
 * once by an outcome of a task with a callbackUrl, then by each failed attempt at its retryAt.
 * Every attempt comes from a timer, so a dead letter replays a timer.fired, never a task's event.
 */
export function taskCallbacksWorker (deps: TaskCallbackDeps): Worker {
  const deliver = callbackDelivery(deps, 'task-callbacks')
  return {
    name: 'task-callbacks',
    stream: 'TASKS',
    async handle (event, msg) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'task-callback') return
      const due = event.data.payload
      if (!payloadCheck.Check(due)) throw new Error(`task-callback timer ${event.data.timerId} carries no task`)
      await deliver(due.taskId, due.attempt, event, msg)
    }
  }
}
