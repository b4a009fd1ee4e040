import type { DeliveryPolicy } from '../schema/events/relay.js'
import { OutboundErrorCodes } from '../lib/outbound.js'

// The one decision every outbound delivery makes after an attempt (an /async request, its
// callback, a trigger's delivery, a task's callback): delivered, retry at a time, or gave up
// and why. Pure: the policy, the attempt, what came back and the time in; the decision out.
// The worker around it only performs what was decided (src/workers/outbound-attempt.ts).

/** How a delivery is retried: Knative's delivery policy, and the cap on a peer's Retry-After. */
export interface DeliveryRetry extends Pick<DeliveryPolicy, 'retry' | 'backoffPolicy' | 'backoffDelayMs'> {
  /** the longest a peer's Retry-After may push the next attempt */
  maxRetryAfterMs: number
}

/** What came back from one attempt, as plain data. */
export type AttemptOutcome =
  /** the peer answered: its status and Retry-After header */
  | { kind: 'answer', status: number, retryAfter?: string | undefined }
  /** no answer: an OutboundError's code (timeout, unreachable, refused, …), or no code for a call that could not be made */
  | { kind: 'error', code?: string | undefined, message: string }

export type GiveUpReason = 'permanent' | 'exhausted'

export type AttemptDecision =
  | { kind: 'delivered' }
  /** another attempt is due at `at`: a durable timer, never a held message */
  | { kind: 'retry', at: Date, backoffMs: number, reason: string }
  /** no attempt follows: an answer that will not change (permanent), or the last attempt failed (exhausted) */
  | { kind: 'gave-up', because: GiveUpReason, reason: string }

/** What attempt `attempt` (1 = the first) leads to. */
export function decideAttempt (policy: DeliveryRetry, attempt: number, outcome: AttemptOutcome, now: Date): AttemptDecision {
  const verdict = classifyOutcome(outcome, policy.maxRetryAfterMs, now)
  if (verdict.kind === 'success') return { kind: 'delivered' }
  const reason = reasonOf(outcome)
  if (verdict.kind === 'permanent') return { kind: 'gave-up', because: 'permanent', reason }
  if (!mayRetry(policy, attempt)) return { kind: 'gave-up', because: 'exhausted', reason }
  const backoffMs = nextDelayMs(policy, attempt, verdict.retryAfterMs)
  return { kind: 'retry', at: new Date(now.getTime() + backoffMs), backoffMs, reason }
}

// --- which outcomes are worth a retry -------------------------------------------------------

export type OutcomeClass =
  | { kind: 'success' }
  /** may succeed later; a peer's Retry-After, capped, when it sent one */
  | { kind: 'transient', retryAfterMs?: number }
  | { kind: 'permanent' }

/** Errors of the outbound client after which the same call may succeed. */
const TRANSIENT_ERRORS: ReadonlySet<string> = new Set([
  OutboundErrorCodes.timeout, OutboundErrorCodes.unreachable, OutboundErrorCodes.aborted
])

/**
 * A 2xx is a success; 408, 429 and 5xx, a timeout and an unreachable peer may succeed later;
 * other answers (3xx, other 4xx) and a refused, invalid or too-large call will not. A peer's
 * Retry-After counts on an answer worth a retry only.
 */
export function classifyOutcome (outcome: AttemptOutcome, maxRetryAfterMs: number, now: Date): OutcomeClass {
  if (outcome.kind === 'error') return outcome.code !== undefined && TRANSIENT_ERRORS.has(outcome.code) ? { kind: 'transient' } : { kind: 'permanent' }
  const { status } = outcome
  if (status >= 200 && status < 300) return { kind: 'success' }
  if (!isRetryableStatus(status)) return { kind: 'permanent' }
  const retryAfterMs = parseRetryAfter(outcome.retryAfter, maxRetryAfterMs, now)
  return retryAfterMs === undefined ? { kind: 'transient' } : { kind: 'transient', retryAfterMs }
}

/** The short reason of a failed attempt: 'status 503', an OutboundError code, or the error's message. */
export function reasonOf (outcome: AttemptOutcome): string {
  if (outcome.kind === 'answer') return `status ${outcome.status}`
  return outcome.code ?? outcome.message
}

export function isRetryableStatus (status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599)
}

/**
 * Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now, clamped to
 * [0, maxMs]; undefined when absent or unreadable.
 */
export function parseRetryAfter (value: string | undefined, maxMs: number, now: Date): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  let ms: number
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000
  } else {
    const at = Date.parse(text)
    if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined
    ms = at - now.getTime()
  }
  return Math.min(Math.max(ms, 0), maxMs)
}

// --- when the next attempt is due ------------------------------------------------------------

/**
 * The wait before retry `n` (1 = the first retry), as Knative defines it: linear is
 * delay × n, exponential is delay × 2^(n-1) (PT1S: 1 s, 2 s, 4 s, …); at most a day.
 */
export function backoffMs (policy: Pick<DeliveryRetry, 'backoffPolicy' | 'backoffDelayMs'>, n: number): number {
  const retry = Math.max(1, n)
  const ms = policy.backoffPolicy === 'linear' ? policy.backoffDelayMs * retry : policy.backoffDelayMs * 2 ** (retry - 1)
  return Math.min(ms, 24 * 3_600_000)
}

/** The wait before the attempt after `attempt`: the policy's backoff, or the peer's Retry-After when longer. */
export function nextDelayMs (policy: Pick<DeliveryRetry, 'backoffPolicy' | 'backoffDelayMs'>, attempt: number, retryAfterMs: number | undefined): number {
  return Math.max(backoffMs(policy, attempt), retryAfterMs ?? 0)
}

/** True when attempt `attempt` may be followed by another one. */
export function mayRetry (policy: Pick<DeliveryRetry, 'retry'>, attempt: number): boolean {
  return attempt <= policy.retry
}
