import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, type EventMessage, type StoredEvent } from './events.js'
import { keepRunning } from '../lib/retry.js'
import { ORDERED_PULL } from './ordered.js'

// The live tail of whole streams, for the console's event tail (GET /api/tail): one ordered
// consumer per stream per process, started when the first listener of that stream arrives and
// stopped a while after the last one leaves, so a process whose console nobody watches tails
// nothing. Each message is decoded once into a TailEvent (its SSE data line built once) and
// handed to every listener of its stream, which filters it (by type, by user) itself.

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

interface StreamTail {
  highWater: number
  listeners: Set<(ev: TailEvent) => void>
  started: Promise<void>
  stopped: boolean
  messages?: ConsumerMessages
  loop?: Promise<void>
  idle?: NodeJS.Timeout
}

export interface EventTailOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  log: Logger
}

export class EventTail {
  private readonly opts: EventTailOptions
  private readonly tails = new Map<string, StreamTail>()
  private closed = false

  constructor (opts: EventTailOptions) {
    this.opts = opts
  }

  /** The last sequence of a stream the tail has seen (0 when it is not tailed). */
  highWater (stream: string): number {
    return this.tails.get(stream)?.highWater ?? 0
  }

  /** Listeners (open tail connections) of this process. */
  get listenerCount (): number {
    const all = new Set<(ev: TailEvent) => void>()
    for (const tail of this.tails.values()) for (const fn of tail.listeners) all.add(fn)
    return all.size
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
      let tail = this.tails.get(stream)
      if (tail === undefined) {
        tail = this.start(stream)
        this.tails.set(stream, tail)
      }
      clearTimeout(tail.idle)
      tail.listeners.add(fn)
      return tail
    })
    const unsubscribe = (): void => {
      for (const [stream, tail] of joined.map((t, i) => [streams[i]!, t] as const)) {
        tail.listeners.delete(fn)
        if (tail.listeners.size > 0 || tail.stopped) continue
        clearTimeout(tail.idle)
        tail.idle = setTimeout(() => { if (tail.listeners.size === 0) this.stop(stream, tail) }, IDLE_STOP_MS)
        tail.idle.unref()
      }
    }
    try {
      await Promise.all(joined.map(async t => await t.started))
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
    await Promise.all([...this.tails.entries()].map(async ([stream, tail]) => await this.stop(stream, tail)))
  }

  private start (stream: string): StreamTail {
    const tail: StreamTail = { highWater: 0, listeners: new Set(), stopped: false, started: Promise.resolve() }
    tail.started = (async () => {
      tail.highWater = (await this.opts.jsm.streams.info(stream)).state.last_seq
      tail.loop = this.run(stream, tail)
    })()
    tail.started.catch(() => { if (this.tails.get(stream) === tail) this.tails.delete(stream) })
    return tail
  }

  private async stop (stream: string, tail: StreamTail): Promise<void> {
    tail.stopped = true
    clearTimeout(tail.idle)
    if (this.tails.get(stream) === tail) this.tails.delete(stream)
    tail.messages?.stop()
    await tail.started.catch(() => {})
    tail.messages?.stop()
    await tail.loop
  }

  private async run (stream: string, tail: StreamTail): Promise<void> {
    const log = this.opts.log
    await keepRunning(async () => {
      const consumer = await this.opts.js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: tail.highWater + 1 })
      tail.messages = await consumer.consume(ORDERED_PULL)
      if (tail.stopped) tail.messages.stop()
      for await (const m of tail.messages) {
        const ev = tailEventOf(stream, m)
        tail.highWater = m.seq
        for (const fn of tail.listeners) {
          try {
            fn(ev)
          } catch (err) {
            log.error({ err, stream }, 'a tail listener failed')
          }
        }
      }
    }, {
      stopped: () => tail.stopped,
      firstBackoffMs: 500,
      onError: err => {
        log.error({ err, stream }, 'event tail failed; restarting after the last sequence seen')
        return false
      }
    })
  }
}
