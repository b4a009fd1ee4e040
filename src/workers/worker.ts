import type { JsMsg } from '@nats-io/jetstream'
import type { StoredEvent } from '../store/events.js'

/** How a worker retries a failing message before it is dead-lettered. */
export interface RetryPolicy {
  /** deliveries of a failing message before it is dead-lettered (the first counts) */
  attempts: number
  /** delay before each retry (ms); the last entry repeats */
  backoffMs: readonly number[]
}

/** Handles one message; resolves once its effect (and any event it emits) is durable. */
export interface Worker {
  /** the durable consumer's name, as in streams/<STREAM>.consumers.json */
  name: string
  stream: string
  /** its own retry policy; the runner's default (WORKER_MAX_DELIVER, WORKER_BACKOFF) otherwise */
  retry?: RetryPolicy
  /** the consumer's ack_wait (WORKER_ACK_WAIT), instead of the one streams/<STREAM>.consumers.json declares */
  ackWaitMs?: number
  /**
   * Resolve: done (ack). Throw: a failure, retried by the policy, dead-lettered after its last
   * attempt. Waiting for a time is never done here: that is a durable timer.
   */
  handle: (event: StoredEvent, msg: JsMsg) => Promise<void>
}

/** The default policy: `attempts`, with a backoff doubling from `firstMs` up to a minute. */
export function defaultRetry (attempts: number, firstMs: number): RetryPolicy {
  const backoffMs: number[] = []
  for (let i = 0; i < Math.max(attempts - 1, 1); i++) backoffMs.push(Math.min(firstMs * 2 ** i, 60_000))
  return { attempts, backoffMs }
}
