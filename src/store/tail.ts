import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { EventMessage } from './events.js'
import { OrderedFollower } from './ordered.js'
import { lastOnSubject, walkSubject } from './subject-reader.js'

// The live tail of one stream with in-process fan-out: one ordered consumer per stream per
// process decodes each message once and hands it to every listener of its keys, so live
// delivery never costs a consumer per connection. The SSE hubs (src/store/hub.ts,
// task-hub.ts, callback-hub.ts) are tails that run for the life of the process; the console's
// tail (src/store/console-tail.ts) starts one per stream when someone watches it. Gaps (a
// client resuming by id) are read from the stream leader with MSG.GET, never from a possibly
// lagging replica (direct get), and handed to the live tail by sequence.

/** listeners one event is handed to in one go (~30 µs a socket write here: ~8 ms); a broadcast to more is cut into slices */
const SLICE = 256

export interface StreamTailOptions<E> {
  js: JetStreamClient
  jsm: JetStreamManager
  stream: string
  /** the subjects it tails, e.g. jobs.status.>; the whole stream when absent */
  filter?: string
  /** what listeners get of a message, decoded once for all of them; undefined skips it */
  decode: (msg: EventMessage) => E | undefined
  /** the fan-out keys of a message, e.g. ['job:<id>', 'user:<id>']; `ev` is what decode made of it */
  keysOf: (subject: string, ev: E) => readonly string[]
  log: Logger
}

export class StreamTail<E> {
  readonly stream: string
  /** the last stream sequence the tail has seen; a hand-over replays up to here */
  highWater = 0
  private readonly opts: StreamTailOptions<E>
  private readonly listeners = new Map<string, Set<(ev: E) => void>>()
  private follower?: OrderedFollower
  private stopped = false
  /** broadcasts being handed out a slice at a time, oldest first */
  private readonly queue: { ev: E, listeners: { set: Set<(ev: E) => void>, fn: (ev: E) => void }[], at: number }[] = []

  constructor (opts: StreamTailOptions<E>) {
    this.opts = opts
    this.stream = opts.stream
  }

  get started (): boolean {
    return this.follower !== undefined
  }

  /** live listeners of a key (or of every key) */
  listenerCount (key?: string): number {
    if (key !== undefined) return this.listeners.get(key)?.size ?? 0
    let n = 0
    for (const set of this.listeners.values()) n += set.size
    return n
  }

  /** Tails from the stream's end: once this resolves, highWater is where the live events begin. */
  async start (): Promise<void> {
    this.stopped = false
    this.highWater = (await this.opts.jsm.streams.info(this.opts.stream)).state.last_seq
    if (this.stopped) return
    const { js, stream, filter, log } = this.opts
    this.follower = new OrderedFollower({
      js,
      stream,
      ...(filter === undefined ? {} : { filter }),
      resumeAfter: () => this.highWater,
      onMessage: m => { this.deliver(m) },
      onError: err => {
        log.error({ err, stream }, 'stream tail failed; restarting after the last sequence seen')
        return false
      }
    })
    this.follower.start()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.queue.length = 0
    await this.follower?.stop()
    this.follower = undefined
  }

  subscribe (key: string, fn: (ev: E) => void): () => void {
    let set = this.listeners.get(key)
    if (set === undefined) this.listeners.set(key, set = new Set())
    set.add(fn)
    return () => {
      set.delete(fn)
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key)
    }
  }

  /** Stored events on a subject filter after `afterSeq` up to `toSeq`, from the stream leader. */
  async * replay (filter: string, afterSeq: number, toSeq: number): AsyncGenerator<E> {
    for await (const m of walkSubject(this.opts.jsm, this.opts.stream, filter, afterSeq, toSeq)) {
      const ev = this.decode({ seq: m.seq, subject: m.subject, headers: m.header, data: m.data })
      if (ev !== undefined) yield ev
    }
  }

  /**
   * The last stored event on a subject, when it lies after `afterSeq` and up to `toSeq`: the
   * replay of a subject that holds at most one event (a job's status), in one look-up however
   * far into the stream it sits.
   */
  async * replayLast (subject: string, afterSeq: number, toSeq: number): AsyncGenerator<E> {
    const m = await lastOnSubject(this.opts.jsm, this.opts.stream, subject)
    if (m === null || m.seq <= afterSeq || m.seq > toSeq) return
    const ev = this.decode({ seq: m.seq, subject: m.subject, headers: m.header, data: m.data })
    if (ev !== undefined) yield ev
  }

  /** What listeners get of a message; an unreadable one is skipped, live and in replays alike, so it cannot stall the tail. */
  private decode (msg: EventMessage): E | undefined {
    try {
      return this.opts.decode(msg)
    } catch (err) {
      this.opts.log.error({ err, stream: this.stream, seq: msg.seq }, 'unreadable message skipped by the tail')
      return undefined
    }
  }

  private deliver (m: JsMsg): void {
    this.highWater = m.seq
    const ev = this.decode(m)
    if (ev === undefined) return
    const sets: Set<(ev: E) => void>[] = []
    let count = 0
    for (const key of this.opts.keysOf(m.subject, ev)) {
      const set = this.listeners.get(key)
      if (set !== undefined) { sets.push(set); count += set.size }
    }
    if (count === 0) return
    if (this.queue.length === 0 && count <= SLICE) {
      for (const set of sets) for (const fn of set) this.call(fn, ev)
      return
    }
    // A broadcast: handed out SLICE listeners at a time, yielding between slices so that the
    // HTTP thread serves others meanwhile (19,900 socket writes in one go held it for 400–600 ms).
    // Later events queue behind it, so each listener still gets them in order. A listener that
    // subscribes meanwhile is not in this event's list: its hand-over replays up to highWater,
    // which counts this event already.
    this.queue.push({ ev, listeners: sets.flatMap(set => [...set].map(fn => ({ set, fn }))), at: 0 })
    if (this.queue.length === 1) setImmediate(this.drain)
  }

  /** Hands out the next slice of the queued broadcasts. */
  private readonly drain = (): void => {
    let budget = SLICE
    while (budget > 0 && !this.stopped) {
      const head = this.queue[0]
      if (head === undefined) return
      const end = Math.min(head.listeners.length, head.at + budget)
      for (let i = head.at; i < end; i++) {
        const { set, fn } = head.listeners[i]!
        if (set.has(fn)) this.call(fn, head.ev) // not one that left since
      }
      budget -= end - head.at
      head.at = end
      if (end === head.listeners.length) this.queue.shift()
    }
    if (this.queue.length > 0 && !this.stopped) setImmediate(this.drain)
  }

  private call (fn: (ev: E) => void, ev: E): void {
    try {
      fn(ev)
    } catch (err) {
      this.opts.log.error({ err, stream: this.stream }, 'a tail listener failed')
    }
  }
}
