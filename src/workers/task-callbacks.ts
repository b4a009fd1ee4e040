import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent, isEvent, type StoredEvent } from '../store/events.js'
import { loadState } from '../store/command.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Subjects } from '../store/subjects.js'
import { taskAggregate, type TaskState } from '../domain/task.js'
import { Events } from '../schema/events/index.js'
import { TaskCallbackPayload } from '../schema/events/timers.js'
import { classify, type Outbound, type OutboundResponse } from '../lib/outbound.js'
import { VersionConflict } from '../lib/errors.js'
import { backoffFor } from '../lib/retry.js'
import type { Clock } from '../lib/time.js'
import { REPLAY_HEADER } from './dead-letters.js'
import type { RetryPolicy, Worker } from './worker.js'

// A task's outcome, POSTed to its callbackUrl ("return to main processing" for a process that
// would rather be called than listen on SSE). Through the one outbound client (SSRF guard, no
// redirects, limits), signed per Standard Webhooks with WEBHOOK_SECRET (webhook-id the same on
// every attempt). Each attempt is an event on tasks.<id>.callback, visible on the task; a
// failed one that may succeed later arms the next attempt as a durable timer (no message is
// held meanwhile); after the last attempt, or at once for an answer that will never change
// (a 4xx, a refused address), the message is dead-lettered for `npm run dlq -- replay`.

const payloadCheck = TypeCompiler.Compile(TaskCallbackPayload)

export interface TaskCallbackDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  log: Logger
  outbound: Outbound
  /** sign with WEBHOOK_SECRET (the outbound client's); unset: deliveries go unsigned */
  signed: boolean
  /** attempts and the delay before each retry (WORKER_MAX_DELIVER, WORKER_BACKOFF) */
  retry: RetryPolicy
  /** the longest a peer's Retry-After may push the next attempt */
  maxRetryAfterMs?: number
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
  const maxRetryAfterMs = deps.maxRetryAfterMs ?? 3600_000

  async function deadLetter (msg: JsMsg, error: string): Promise<void> {
    const headers: Record<string, string> = {}
    for (const [k, v] of msg.headers ?? []) if (v[0] !== undefined) headers[k] = v[0]
    await appendEvent(deps.js, {
      def: Events.messageDeadLettered,
      data: { stream: 'TASKS', consumer: worker, seq: msg.seq, subject: msg.subject, headers, data: Buffer.from(msg.data).toString('base64'), error, deliveries: msg.info.deliveryCount },
      subject: Subjects.deadLetter('TASKS', worker),
      source: `/jetway/workers/${worker}`,
      idempotencyKey: `dlq:TASKS:${worker}:${msg.seq}`,
      causationId: headers['ce-id'],
      time: deps.clock.now()
    })
  }

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
    const body = JSON.stringify(callbackBody(task))
    const webhookId = webhookIdOf(taskId)
    let outcome: OutboundResponse | unknown
    try {
      outcome = await deps.outbound.request({
        method: 'POST',
        url: task.callbackUrl,
        headers: { 'content-type': 'application/json' },
        body,
        ...(deps.signed ? { webhook: { id: webhookId } } : {})
      })
    } catch (err) {
      outcome = err
    }
    const decision = classify(outcome, { maxRetryAfterMs, now: () => deps.clock.now() })
    const statusCode = typeof (outcome as { status?: unknown }).status === 'number' ? (outcome as OutboundResponse).status : undefined
    const base = { taskId, webhookId, attempt, url: task.callbackUrl }
    const record = async (d: Parameters<typeof appendEvent>[1]): Promise<boolean> => {
      try {
        await appendEvent(deps.js, d)
        return true
      } catch (err) {
        // another delivery of the same attempt recorded it first
        if (err instanceof VersionConflict) return false
        throw err
      }
    }
    const common = { subject, source: `/jetway/workers/${worker}`, about: taskId, causationId: event.id, correlationId: event.correlationId, expectLastSubjectSeq: last?.seq ?? 0, time: deps.clock.now() }
    if (decision.kind === 'success') {
      await record({ ...common, def: Events.taskCallbackDelivered, data: { ...base, statusCode: statusCode ?? 200 }, idempotencyKey: `callback:${taskId}:${attempt}:delivered` })
      return
    }
    const final = decision.kind === 'fail' || attempt >= deps.retry.attempts || replay !== ''
    const delay = Math.max(backoffFor(deps.retry.backoffMs, attempt), decision.retryAfterMs ?? 0)
    const error = decision.reason.slice(0, 1000)
    const recorded = await record({
      ...common,
      def: Events.taskCallbackFailed,
      data: {
        ...base,
        ...(statusCode === undefined ? {} : { statusCode }),
        error,
        final,
        ...(final ? {} : { retryAt: new Date(deps.clock.now().getTime() + delay).toISOString() })
      },
      idempotencyKey: `callback:${taskId}:${attempt}:failed${replay === '' ? '' : `:replay:${replay}`}`
    })
    if (final && recorded) {
      log.error({ taskId, attempt, error }, 'task callback failed for good: dead-lettered')
      await deadLetter(msg, `callback to ${task.callbackUrl} failed: ${error}`)
    } else if (recorded) {
      log.warn({ taskId, attempt, error, retryInMs: delay }, 'task callback failed; will retry')
    }
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
