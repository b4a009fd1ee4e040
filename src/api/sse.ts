import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import type { EventMessage } from '../store/events.js'

// Server-Sent Events. One ordered consumer per stream per instance (the hub) feeds every
// connection of this process; a reconnecting client's gap is read with JetStream direct gets
// (no consumer per connection), then handed to the live tail by sequence.

export interface HubEvent {
  seq: number
  type: string
  /** the JSON text of `data:`, built once for every connection */
  data: string
}

export interface HubOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  stream: string
  /** subjects the hub tails, e.g. jobs.status.> */
  filter: string
  /** fan-out keys of a message, e.g. ['job:<id>', 'user:<id>'] */
  keysOf: (subject: string) => string[]
  /** the event type and data of a message, or undefined to skip it */
  toEvent: (msg: EventMessage) => HubEvent | undefined
  log: Logger
}

export class SseHub {
  /** the last stream sequence the tail has seen; replays read up to here */
  highWater = 0
  private readonly opts: HubOptions
  private readonly listeners = new Map<string, Set<(ev: HubEvent) => void>>()
  private readonly connections = new Set<() => void>()
  private messages?: ConsumerMessages
  private loop?: Promise<void>
  private stopped = false

  constructor (opts: HubOptions) {
    this.opts = opts
  }

  get connectionCount (): number {
    return this.connections.size
  }

  async start (): Promise<void> {
    this.highWater = (await this.opts.jsm.streams.info(this.opts.stream)).state.last_seq
    this.loop = this.run()
  }

  /** Ends every open SSE response (clients resume by id elsewhere), then the tail. */
  async stop (): Promise<void> {
    this.stopped = true
    for (const end of [...this.connections]) end()
    this.messages?.stop()
    await this.loop
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

  track (end: () => void): () => void {
    this.connections.add(end)
    return () => this.connections.delete(end)
  }

  /** Stored events after `afterSeq` up to `toSeq` on a subject filter: the replay of a gap. */
  async * replay (filter: string, afterSeq: number, toSeq: number): AsyncGenerator<HubEvent> {
    let seq = afterSeq + 1
    while (seq <= toSeq) {
      const m: StoredMsg | null = await this.opts.jsm.direct.getMessage(this.opts.stream, { seq, next_by_subj: filter })
      if (m === null || m.seq > toSeq) return
      const ev = this.opts.toEvent({ seq: m.seq, subject: m.subject, headers: m.header, data: m.data })
      if (ev !== undefined) yield ev
      seq = m.seq + 1
    }
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.opts.js.consumers.get(this.opts.stream, {
          filter_subjects: this.opts.filter,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.highWater + 1
        })
        this.messages = await consumer.consume()
        if (this.stopped) this.messages.stop()
        for await (const m of this.messages) {
          const ev = this.opts.toEvent({ seq: m.seq, subject: m.subject, headers: m.headers, data: m.data })
          this.highWater = m.seq
          if (ev === undefined) continue
          for (const key of this.opts.keysOf(m.subject)) {
            for (const fn of this.listeners.get(key) ?? []) fn(ev)
          }
        }
      } catch (err) {
        if (this.stopped) break
        this.opts.log.error({ err, stream: this.opts.stream }, 'SSE tail failed; restarting after the last sequence seen')
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
  }
}

export interface StreamOptions {
  hub: SseHub
  /** live fan-out key */
  key: string
  /** subject filter of the replay */
  filter: string
  /** replay from the start when the client sends no Last-Event-ID (false: live only) */
  replayFromStart: boolean
  heartbeatMs: number
  /** a slow client whose unsent output passes this is disconnected (it resumes by id) */
  maxBufferedBytes?: number
}

/** Last-Event-ID from the header or ?lastEventId=; 400 for one that can never be valid. */
export function lastEventIdOf (request: FastifyRequest, query: string | undefined): number | undefined {
  const raw = request.headers['last-event-id'] ?? query
  if (raw === undefined || raw === '') return undefined
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) {
    throw new JetwayError(ErrorCodes.validation, 'Last-Event-ID must be a stream sequence this server sent', [{ field: 'Last-Event-ID', message: 'must be a non-negative integer' }])
  }
  return Number(raw)
}

/**
 * Streams one SSE connection: register live first and buffer, note the high-water mark,
 * replay the gap up to it, flush the buffer past it, then go live. No gap, no duplicate.
 */
export async function streamEvents (request: FastifyRequest, reply: FastifyReply, lastEventId: number | undefined, opts: StreamOptions): Promise<void> {
  const { hub } = opts
  const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive'
  })
  res.write('retry: 2000\n\n')

  let closed = false
  let lastSent = lastEventId ?? (opts.replayFromStart ? 0 : hub.highWater)
  let pending: HubEvent[] | undefined = []
  const send = (ev: HubEvent): void => {
    if (closed || ev.seq <= lastSent) return
    lastSent = ev.seq
    res.write(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${ev.data}\n\n`)
    if (res.writableLength > maxBuffered) {
      request.log.warn({ buffered: res.writableLength }, 'SSE client too slow: disconnecting (it resumes by Last-Event-ID)')
      end()
    }
  }
  const unsubscribe = hub.subscribe(opts.key, ev => {
    if (pending === undefined) send(ev)
    else if (pending.push(ev) > 10_000) end()
  })
  const heartbeat = setInterval(() => { res.write(': heartbeat\n\n') }, opts.heartbeatMs)
  const untrack = hub.track(() => end())
  function end (): void {
    if (closed) return
    closed = true
    unsubscribe()
    untrack()
    clearInterval(heartbeat)
    res.end()
  }
  res.on('close', end)

  try {
    const high = hub.highWater
    for await (const ev of hub.replay(opts.filter, lastSent, high)) {
      if (closed) return
      send(ev)
    }
    for (const ev of pending) send(ev)
    pending = undefined
  } catch (err) {
    request.log.error({ err }, 'SSE replay failed; closing (the client resumes by id)')
    end()
  }
}
