import type { JsMsg } from '@nats-io/jetstream'
import type { StoredEvent } from '../store/events.js'

/** Handles one message; resolves once its effect (and any event it emits) is durable. */
export interface Worker {
  /** the durable consumer's name, as in streams/<STREAM>.consumers.json */
  name: string
  stream: string
  /**
   * Resolve with nothing: done (ack). Resolve with `retryInMs`: not yet, deliver again later
   * (not a failure). Throw: a failure, retried with backoff, dead-lettered at WORKER_MAX_DELIVER.
   */
  handle: (event: StoredEvent, msg: JsMsg) => Promise<void | { retryInMs: number }>
}
