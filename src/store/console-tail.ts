import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, type EventMessage, type StoredEvent } from './events.js'
import { StreamTail } from './tail.js'

// The live tail of whole streams, for the console's event tail (GET /api/tail): a stream tail
// (src/store/tail.ts) per stream per process, started when the first listener of that stream
// arrives and stopped a while after the last one leaves, so a process whose console nobody
// watches tails nothing. Each message is decoded once into a TailEvent (its SSE data line built
// once) and handed to every listener of its stream, which filters it (by type, by user) itself.

/** How much of an event's data a tail line carries; a larger one is cut (and says so). */
export const MAX_TAIL_DATA = 4096
/** A stream nobody listens to is tailed this much longer (a page reload keeps its tail). */
const IDLE_STOP_MS = 10_000
/** A range read ends when no message came for this long (the stream lost what it asked for). */
const RANGE_IDLE_MS = 2000

export interface TailEvent {
  stream: string
  seq: number
  subject: string
  /** the CloudEvents type; '' for a message that is not a Jetway event */
  type: string
  time: string
  actor?: string
  /** who the event is about: its actor and the user, owner or organizer its data names */
  users: string[]
  /** the SSE data line: {stream, seq, subject, type, time, actor, data | preview, truncated} */
  json: string
}

const decoder = new TextDecoder()

/** The users an event concerns, as the tail's per-user filter sees them. */
export function usersOf (ev: Pick<StoredEvent, 'actor' | 'data'>): string[] {
  const out = new Set<string>()
  if (ev.actor !== undefined) out.add(ev.actor)
  const d = typeof ev.data === 'object' && ev.data !== null ? ev.data as Record<string, unknown> : {}
  for (const key of ['user_id', 'userId', 'owner']) if (typeof d[key] === 'string') out.add(d[key])
  const organizer = typeof d.organizer === 'object' && d.organizer !== null ? d.organizer as Record<string, unknown> : {}
  for (const key of ['userId', 'email']) if (typeof organizer[key] === 'string') out.add(organizer[key])
  return [...out]
}

export function tailEventOf (stream: string, msg: EventMessage): TailEvent {
  let ev: StoredEvent | undefined
  try {
    ev = decodeEvent(msg)
  } catch {
    // not JSON: shown as text
  }
  const text = ev === undefined ? decoder.decode(msg.data) : JSON.stringify(ev.data)
  const truncated = text.length > MAX_TAIL_DATA
  const type = ev?.type ?? ''
  const time = ev?.time ?? ''
  const line = {
    stream,
    seq: msg.seq,
    subject: msg.subject,
    type,
    time,
    ...(ev?.actor === undefined ? {} : { actor: ev.actor }),
    ...(truncated || ev === undefined ? { preview: text.slice(0, MAX_TAIL_DATA), truncated } : { data: ev.data, truncated: false })
  }
  return { stream, seq: msg.seq, subject: msg.subject, type, time, actor: ev?.actor, users: ev === undefined ? [] : usersOf(ev), json: JSON.stringify(line) }
}

/** The one fan-out key of a whole-stream tail: every listener gets every event. */
const EVERY_KEY = '*'
const EVERY = [EVERY_KEY] as const

interface Watched {
  tail: StreamTail<TailEvent>
  /** settles once the tail has started (rejects when it could not) */
  started: Promise<void>
  idle?: NodeJS.Timeout
}

export interface EventTailOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  log: Logger
}

export class EventTail {
  private readonly opts: EventTailOptions
  private readonly tails = new Map<string, Watched>()
  private listening = 0
  private closed = false

  constructor (opts: EventTailOptions) {
    this.opts = opts
  }

  /** The last sequence of a stream the tail has seen (0 when it is not tailed). */
  highWater (stream: string): number {
    return this.tails.get(stream)?.tail.highWater ?? 0
  }

  /** Listeners (open tail connections) of this process. */
  get listenerCount (): number {
    return this.listening
  }

  /** Streams tailed now. */
  get tailing (): string[] {
    return [...this.tails.keys()].sort()
  }

  /**
   * Listens to `streams`, tailing each (from its end) if it is not yet. `fn` may be called as
   * soon as this is called; once it resolves, highWater(stream) is where the live events begin.
   */
  async subscribe (streams: string[], fn: (ev: TailEvent) => void): Promise<() => void> {
    if (this.closed) throw new Error('the event tail is closed')
    const joined = streams.map(stream => {
      let watched = this.tails.get(stream)
      if (watched === undefined) this.tails.set(stream, watched = this.watch(stream))
      clearTimeout(watched.idle)
      return { stream, watched, leave: watched.tail.subscribe(EVERY_KEY, fn) }
    })
    this.listening++
    let left = false
    const unsubscribe = (): void => {
      if (left) return
      left = true
      this.listening--
      for (const { stream, watched, leave } of joined) {
        leave()
        if (watched.tail.listenerCount() > 0 || this.tails.get(stream) !== watched) continue
        clearTimeout(watched.idle)
        watched.idle = setTimeout(() => { if (watched.tail.listenerCount() === 0) this.unwatch(stream, watched).catch(() => {}) }, IDLE_STOP_MS)
        watched.idle.unref()
      }
    }
    try {
      await Promise.all(joined.map(async j => { await j.watched.started }))
    } catch (err) {
      unsubscribe()
      throw err
    }
    return unsubscribe
  }

  /**
   * The stored events of a stream after `afterSeq` up to `toSeq`, at most `limit` (the first
   * ones), read with one ordered consumer.
   */
  async range (stream: string, afterSeq: number, toSeq: number, limit: number): Promise<TailEvent[]> {
    if (toSeq <= afterSeq || limit <= 0) return []
    const consumer = await this.opts.js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 })
    const messages = await consumer.consume({ max_messages: Math.min(limit, 256) })
    const out: TailEvent[] = []
    let idle: NodeJS.Timeout | undefined
    const arm = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => { messages.stop() }, RANGE_IDLE_MS)
    }
    arm()
    try {
      for await (const m of messages) {
        if (m.seq > toSeq) break
        out.push(tailEventOf(stream, m))
        if (m.seq >= toSeq || out.length >= limit) break
        arm()
      }
    } finally {
      clearTimeout(idle)
      messages.stop()
    }
    return out
  }

  async close (): Promise<void> {
    this.closed = true
    await Promise.all([...this.tails.entries()].map(async ([stream, watched]) => { await this.unwatch(stream, watched) }))
  }

  private watch (stream: string): Watched {
    const { js, jsm, log } = this.opts
    const tail = new StreamTail<TailEvent>({ js, jsm, stream, log, decode: msg => tailEventOf(stream, msg), keysOf: () => EVERY })
    const watched: Watched = { tail, started: tail.start() }
    watched.started.catch(() => { if (this.tails.get(stream) === watched) this.tails.delete(stream) })
    return watched
  }

  private async unwatch (stream: string, watched: Watched): Promise<void> {
    clearTimeout(watched.idle)
    if (this.tails.get(stream) === watched) this.tails.delete(stream)
    await watched.tail.stop()
  }
}
