import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import { keepRunning } from '../lib/retry.js'

// Pull options of the long-lived ordered consumers (projections, SSE hubs, the console tail,
// the trigger list). nats.js pulls expire after 30 s by default, with heartbeats every 15 s.
// When the node that holds an ordered consumer dies, the client notices after two missed
// heartbeats (30 s), and after a reconnect it checks its consumer again only after a backoff of
// that same 30 s: a read model stood still for 30 to 60 s after a node loss in a cluster.
// 5 s pulls bound that to a few seconds (then the consumer is made anew on a live node), for
// one pull request per consumer every 5 s while the stream is idle.
export const ORDERED_PULL = { expires: 5000 } as const

/**
 * The first wait after a failed pass (the projection runner's, the quickest of the loops this
 * one replaced: a read model resumes soon after a blip); it doubles up to keepRunning's 5 s.
 */
const FIRST_BACKOFF_MS = 100

export interface OrderedFollowerOptions {
  js: JetStreamClient
  stream: string
  /** the subjects it reads (one filter); the whole stream when absent */
  filter?: string
  /**
   * The stream sequence to resume after, asked at every (re)start: the last one the caller
   * has handled (0: from the stream's first message).
   */
  resumeAfter: () => number | Promise<number>
  /** messages one pull asks for (the client's default when absent) */
  maxMessages?: number
  /**
   * At every (re)start, before the first message: how many messages wait after the resume
   * point (one consumer info request more; only asked for when this is given).
   */
  onStart?: (pending: number) => void | Promise<void>
  /** Each message, in stream order. A throw fails the pass. */
  onMessage: (m: JsMsg) => void | Promise<void>
  /** After a pass that ended without a failure (a stop, or restart()): e.g. commit what was gathered. */
  onEnd?: () => void | Promise<void>
  /** A failed pass: true to start again at once, false after the backoff. Log it here. */
  onError: (err: unknown) => boolean | Promise<boolean>
}

/**
 * Follows a stream with an ordered consumer from where its caller says it stands, for as long
 * as it runs: a failed pass (NATS away, the consumer lost with a node) starts again after the
 * last message handled, after a backoff that doubles from 100 ms to 5 s, and a stop ends it
 * at once, a backoff wait included. The one resumable reader of the projections, the SSE
 * tails and the trigger list; what each does with a message is its own.
 */
export class OrderedFollower {
  private readonly opts: OrderedFollowerOptions
  private readonly abort = new AbortController()
  private messages?: ConsumerMessages
  private stopped = false
  private loop?: Promise<void>

  constructor (opts: OrderedFollowerOptions) {
    this.opts = opts
  }

  start (): void {
    this.loop ??= keepRunning(async () => { await this.pass() }, {
      stopped: () => this.stopped,
      onError: this.opts.onError,
      firstBackoffMs: FIRST_BACKOFF_MS,
      signal: this.abort.signal
    })
  }

  /** Ends the follow: the current pass ends (its onEnd runs) and no other starts. */
  async stop (): Promise<void> {
    this.stopped = true
    this.abort.abort()
    // stop(), not close(): close() resolves only once the for-await loop has run the stop
    this.messages?.stop()
    await this.loop
  }

  /** Ends the current pass: the next starts after resumeAfter() (or after onError, if onEnd throws). */
  restart (): void {
    this.messages?.stop()
  }

  private async pass (): Promise<void> {
    const { js, stream, filter, onStart, onMessage, onEnd, maxMessages } = this.opts
    const after = await this.opts.resumeAfter()
    if (this.stopped) return
    const consumer = await js.consumers.get(stream, {
      ...(filter === undefined ? {} : { filter_subjects: filter }),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1
    })
    if (onStart !== undefined) await onStart((await consumer.info()).num_pending)
    const messages = this.messages = await consumer.consume({ ...ORDERED_PULL, ...(maxMessages === undefined ? {} : { max_messages: maxMessages }) })
    // a stop that came while the consumer was being made
    if (this.stopped) messages.stop()
    try {
      for await (const m of messages) {
        // no await for a handler that answers nothing: the SSE fan-out stays in the message's tick
        const handled = onMessage(m)
        if (handled !== undefined) await handled
      }
    } finally {
      messages.stop()
    }
    await onEnd?.()
  }
}
