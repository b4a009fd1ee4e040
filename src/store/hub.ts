import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, isEvent, type EventMessage } from './events.js'
import { lastOnSubject, walkSubject } from './subject-reader.js'
import { unescapeToken } from './subjects.js'
import { Events } from '../schema/events/index.js'
import { keepRunning } from '../lib/retry.js'
import { ORDERED_PULL } from './ordered.js'

// A stream tail with in-process fan-out: one ordered consumer per stream per process feeds
// every listener of this process by key, so live delivery never costs a consumer per
// connection. Gaps (a client resuming by id) are read from the stream leader with MSG.GET,
// never from a possibly lagging replica (direct get), and handed to the live tail by sequence.

export interface HubEvent {
  seq: number
  type: string
  /** the JSON text of the event's data, built once for every listener */
  data: string
}

export interface StreamHubOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  stream: string
  /** subjects the hub tails, e.g. jobs.status.> */
  filter: string
  /** fan-out keys of a message, e.g. ['job:<id>', 'user:<id>']; `ev` is what toEvent made of it */
  keysOf: (subject: string, ev: HubEvent) => string[]
  /** the event type and data of a message, or undefined to skip it */
  toEvent: (msg: EventMessage) => HubEvent | undefined
  log: Logger
}

export class StreamHub {
  readonly stream: string
  /** the last stream sequence the tail has seen; a hand-over replays up to here */
  highWater = 0
  private readonly opts: StreamHubOptions
  private readonly listeners = new Map<string, Set<(ev: HubEvent) => void>>()
  private messages?: ConsumerMessages
  private loop?: Promise<void>
  private stopped = false

  constructor (opts: StreamHubOptions) {
    this.opts = opts
    this.stream = opts.stream
  }

  get started (): boolean {
    return this.loop !== undefined
  }

  /** live listeners of a key (or of every key) */
  listenerCount (key?: string): number {
    if (key !== undefined) return this.listeners.get(key)?.size ?? 0
    let n = 0
    for (const set of this.listeners.values()) n += set.size
    return n
  }

  async start (): Promise<void> {
    this.stopped = false
    this.highWater = (await this.opts.jsm.streams.info(this.opts.stream)).state.last_seq
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.messages?.stop()
    await this.loop
    this.loop = undefined
  }

  subscribe (key: string, fn: (ev: HubEvent) => void): () => void {
    let set = this.listeners.get(key)
    if (set === undefined) this.listeners.set(key, set = new Set())
    set.add(fn)
    return () => {
      set.delete(fn)
      if (set.size === 0) this.listeners.delete(key)
    }
  }

  /** Stored events on a subject filter after `afterSeq` up to `toSeq`, from the stream leader. */
  async * replay (filter: string, afterSeq: number, toSeq: number): AsyncGenerator<HubEvent> {
    for await (const m of walkSubject(this.opts.jsm, this.opts.stream, filter, afterSeq, toSeq)) {
      const ev = this.opts.toEvent({ seq: m.seq, subject: m.subject, headers: m.header, data: m.data })
      if (ev !== undefined) yield ev
    }
  }

  /**
   * The last stored event on a subject, when it lies after `afterSeq` and up to `toSeq`: the
   * replay of a subject that holds at most one event (a job's status), in one look-up however
   * far into the stream it sits.
   */
  async * replayLast (subject: string, afterSeq: number, toSeq: number): AsyncGenerator<HubEvent> {
    const m = await lastOnSubject(this.opts.jsm, this.opts.stream, subject)
    if (m === null || m.seq <= afterSeq || m.seq > toSeq) return
    const ev = this.opts.toEvent({ seq: m.seq, subject: m.subject, headers: m.header, data: m.data })
    if (ev !== undefined) yield ev
  }

  private async run (): Promise<void> {
    await keepRunning(async () => {
      const consumer = await this.opts.js.consumers.get(this.opts.stream, {
        filter_subjects: this.opts.filter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: this.highWater + 1
      })
      this.messages = await consumer.consume(ORDERED_PULL)
      if (this.stopped) this.messages.stop()
      for await (const m of this.messages) {
        const ev = this.opts.toEvent({ seq: m.seq, subject: m.subject, headers: m.headers, data: m.data })
        this.highWater = m.seq
        if (ev === undefined) continue
        for (const key of this.opts.keysOf(m.subject, ev)) {
          for (const fn of this.listeners.get(key) ?? []) fn(ev)
        }
      }
    }, {
      stopped: () => this.stopped,
      firstBackoffMs: 500,
      onError: err => {
        this.opts.log.error({ err, stream: this.opts.stream }, 'stream tail failed; restarting after the last sequence seen')
        return false
      }
    })
  }
}

/** The JOBS hub: every job.status.changed, keyed by `job:<eventId>` and `user:<userId>`. */
export function jobStatusHub (js: JetStreamClient, jsm: JetStreamManager, log: Logger): StreamHub {
  return new StreamHub({
    js,
    jsm,
    stream: 'JOBS',
    filter: 'jobs.status.>',
    log: log.child({ component: 'hub', stream: 'JOBS' }),
    keysOf: subject => {
      const [, , user, job] = subject.split('.')
      return user === undefined || job === undefined ? [] : [`job:${unescapeToken(job)}`, `user:${unescapeToken(user)}`]
    },
    toEvent: msg => {
      const ev = decodeEvent(msg)
      return isEvent(ev, Events.jobStatusChanged) ? { seq: ev.seq, type: ev.type, data: JSON.stringify(ev.data) } : undefined
    }
  })
}
