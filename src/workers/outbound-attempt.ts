import { performance } from 'node:perf_hooks'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { OutboundError, type Outbound, type OutboundRequest, type OutboundResponse } from '../lib/outbound.js'
import type { Clock } from '../lib/time.js'
import { decideAttempt, type AttemptOutcome, type DeliveryRetry, type GiveUpReason } from '../domain/delivery.js'
import { deadLetterStored } from './dead-letters.js'

// The one executor of outbound deliveries (the relay's requests and callbacks, trigger
// deliveries, task callbacks): make the call, ask the delivery decision (src/domain/delivery.ts)
// what follows, and perform it. A success or a failure is recorded by the sender's own event; a
// retry is recorded with its due time, which arms a durable timer (no message is held while it
// waits); a delivery given up on is dead-lettered where the sender asks for it, then recorded.

export interface AttemptDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  outbound: Outbound
}

/** When an attempt started and how long its call took. */
export interface AttemptTiming {
  at: string
  durationMs: number
}

/** A failed attempt as events record it (their AttemptFields). */
export interface Failure extends AttemptTiming {
  status?: number
  code?: string
  error: string
}

export interface FailedAttempt {
  failure: Failure
  /** the decision's short reason: 'status 503', an OutboundError code */
  reason: string
  /** the peer's answer, when there was one */
  response?: OutboundResponse
}

export interface GaveUp {
  because: GiveUpReason
  /** where the dead letter went: the sender's sink, DLQ, or nowhere (not dead-lettered) */
  sink: 'url' | 'dlq' | 'none'
  dlqSeq?: number
}

/** The sender's events, one per decision. */
export interface AttemptRecorder {
  delivered: (timing: AttemptTiming, response: OutboundResponse) => Promise<void>
  /** the event carries nextAttemptAt: the durable timer of the next attempt */
  retrying: (failed: FailedAttempt, next: { nextAttemptAt: string, backoffMs: number }) => Promise<void>
  gaveUp: (failed: FailedAttempt, end: GaveUp) => Promise<void>
}

/** Where a delivery given up on goes. */
export interface DeadLetterPlan {
  /** the message DLQ keeps whole, for a replay by the consumer named */
  stream: string
  consumer: string
  seq: number
  /** which give-ups are dead-lettered: an exhausted one only, or any */
  on: 'exhausted' | 'any'
  /** the error the letter keeps; the failure's by default */
  error?: (failed: FailedAttempt) => string
  /** tried before DLQ (a trigger's dead-letter sink): resolves true when it took the letter */
  sink?: (failed: FailedAttempt) => Promise<boolean>
}

export interface AttemptPlan {
  /** the call; a string says why no call can be made (recorded as a permanent failure, no call) */
  request: OutboundRequest | string
  attempt: number
  policy: DeliveryRetry
  record: AttemptRecorder
  deadLetter?: DeadLetterPlan
}

export type AttemptResult = 'delivered' | 'retrying' | 'gave-up' | 'aborted'

/** Attempt `plan.attempt` of a delivery, and what was decided after it. 'aborted' (the caller's signal) records nothing. */
export async function performAttempt (deps: AttemptDeps, plan: AttemptPlan): Promise<AttemptResult> {
  const at = deps.clock.now().toISOString()
  const { outcome, durationMs } = typeof plan.request === 'string'
    ? { outcome: new Error(plan.request), durationMs: 0 }
    : await timedCall(deps.outbound, plan.request)
  if (typeof plan.request !== 'string' && plan.request.signal?.aborted === true) return 'aborted'
  const decision = decideAttempt(plan.policy, plan.attempt, outcomeOf(outcome), deps.clock.now())
  if (decision.kind === 'delivered') {
    // only an answer (a 2xx) is delivered
    await plan.record.delivered({ at, durationMs }, outcome as OutboundResponse)
    return 'delivered'
  }
  const failed: FailedAttempt = {
    failure: { at, durationMs, ...failureOf(outcome, decision.reason) },
    reason: decision.reason,
    ...(isResponse(outcome) ? { response: outcome } : {})
  }
  if (decision.kind === 'retry') {
    await plan.record.retrying(failed, { nextAttemptAt: decision.at.toISOString(), backoffMs: decision.backoffMs })
    return 'retrying'
  }
  await plan.record.gaveUp(failed, await deadLetterOf(deps, plan, failed, decision.because))
  return 'gave-up'
}

async function deadLetterOf (deps: AttemptDeps, plan: AttemptPlan, failed: FailedAttempt, because: GiveUpReason): Promise<GaveUp> {
  const dl = plan.deadLetter
  if (dl === undefined || (dl.on === 'exhausted' && because !== 'exhausted')) return { because, sink: 'none' }
  if (dl.sink !== undefined && await dl.sink(failed)) return { because, sink: 'url' }
  const dlqSeq = await deadLetterStored(deps.js, deps.jsm, {
    stream: dl.stream, consumer: dl.consumer, seq: dl.seq, error: dl.error?.(failed) ?? failed.failure.error, deliveries: plan.attempt, clock: deps.clock
  })
  return { because, sink: 'dlq', dlqSeq }
}

/** One outbound call, timed: its response, or the OutboundError it failed with. */
export async function timedCall (outbound: Outbound, req: OutboundRequest): Promise<{ outcome: OutboundResponse | unknown, durationMs: number }> {
  const started = performance.now()
  let outcome: OutboundResponse | unknown
  try {
    outcome = await outbound.request(req)
  } catch (err) {
    outcome = err
  }
  return { outcome, durationMs: Math.round(performance.now() - started) }
}

export function isResponse (outcome: unknown): outcome is OutboundResponse {
  return typeof outcome === 'object' && outcome !== null && Buffer.isBuffer((outcome as OutboundResponse).body) && typeof (outcome as OutboundResponse).status === 'number'
}

/** A call's response or error as the delivery decision reads it. */
export function outcomeOf (outcome: OutboundResponse | unknown): AttemptOutcome {
  if (isResponse(outcome)) return { kind: 'answer', status: outcome.status, retryAfter: outcome.headers['retry-after'] }
  if (outcome instanceof OutboundError) return { kind: 'error', code: outcome.code, message: outcome.message }
  return { kind: 'error', message: outcome instanceof Error ? outcome.message : String(outcome) }
}

/** status, code and error of a failed attempt, as events record them. */
export function failureOf (outcome: unknown, reason: string): { status?: number, code?: string, error: string } {
  if (isResponse(outcome)) {
    const snippet = outcome.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim()
    return { status: outcome.status, error: `the target answered ${outcome.status}${snippet === '' ? '' : `: ${snippet}`}` }
  }
  if (outcome instanceof OutboundError) return { code: outcome.code, error: outcome.message.slice(0, 2000) }
  return { error: reason.slice(0, 2000) }
}
