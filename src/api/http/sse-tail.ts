import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import type { EventTail, TailEvent } from '../../store/console-tail.js'
import { streamSse, type SseConnections, type SseFeed, type SseOut } from './sse.js'

// The console's live event tail over SSE: the events of several streams on one connection.
// Its `id:` is the position in every stream of the connection, `COLLECT:5,JOBS:12,…`, so a
// client resuming with Last-Event-ID continues each stream with no gap and no duplicate. It is
// a feed of the one SSE writer (src/api/http/sse.ts), which does the hand-over from replay to
// live as for the single-stream routes: listen first and hold, note each stream's high-water
// mark, replay the gap up to it, send what was held past it.

/** Events a resume replays per stream; past it the client is told what was skipped. */
export const MAX_TAIL_REPLAY = 1000

export type Positions = Map<string, number>

const ENTRY = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/

/** `COLLECT:5,JOBS:12` → positions; 400 for anything this server cannot have sent. */
export function parsePositions (raw: string): Positions {
  const out: Positions = new Map()
  for (const part of raw.split(',')) {
    const m = ENTRY.exec(part.trim())
    if (m === null) {
      throw new JetwayError(ErrorCodes.validation, 'Last-Event-ID must be a tail position this server sent (STREAM:seq,…)', [{ field: 'Last-Event-ID', message: 'must be STREAM:seq pairs separated by commas' }])
    }
    out.set(m[1]!, Number(m[2]))
  }
  return out
}

export function formatPositions (positions: Positions): string {
  return [...positions].map(([stream, seq]) => `${stream}:${seq}`).join(',')
}

/** `job.*,task.created` → a test of an event type; undefined: every type. */
export function typeFilter (types: string | undefined): ((type: string) => boolean) | undefined {
  if (types === undefined || types === '') return undefined
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const t of types.split(',')) {
    if (t === '*') return undefined
    if (t.endsWith('*')) prefixes.push(t.slice(0, -1))
    else exact.add(t)
  }
  return type => exact.has(type) || prefixes.some(p => type.startsWith(p))
}

export interface TailRequest {
  tail: EventTail
  connections: SseConnections
  streams: string[]
  /** keep an event (type and user filters) */
  keep: (ev: TailEvent) => boolean
  /** whose connection it is, for the per-user cap */
  user: string | undefined
  lastEventId: string | undefined
  history: number
}

/** Streams one tail connection (the SSE writer of src/api/http/sse.ts, with per-stream positions). */
export async function streamTail (request: FastifyRequest, reply: FastifyReply, opts: TailRequest): Promise<void> {
  const resume = opts.lastEventId === undefined || opts.lastEventId === '' ? undefined : parsePositions(opts.lastEventId)
  await streamSse(request, reply, opts.connections, new TailFeed(opts, resume))
}

/** The events of several streams; its id is the position in each. */
class TailFeed implements SseFeed<TailEvent> {
  /** where the connection stands in each stream: the last sequence sent or passed over */
  private readonly positions: Positions = new Map()
  private readonly opts: TailRequest
  private readonly resume: Positions | undefined

  constructor (opts: TailRequest, resume: Positions | undefined) {
    this.opts = opts
    this.resume = resume
  }

  get user (): string | undefined {
    return this.opts.user
  }

  async listen (fn: (ev: TailEvent) => void): Promise<() => void> {
    return await this.opts.tail.subscribe(this.opts.streams, fn)
  }

  async open (out: SseOut<TailEvent>): Promise<void> {
    const { tail, streams, history } = this.opts
    const { positions, resume } = this
    // the marks are where the live events begin
    const high = new Map(streams.map(s => [s, tail.highWater(s)] as const))
    for (const s of streams) positions.set(s, Math.min(resume?.get(s) ?? high.get(s)!, high.get(s)!))
    if (resume !== undefined) {
      for (const s of streams) {
        const from = positions.get(s)!
        const to = high.get(s)!
        const gap = await tail.range(s, from, to, MAX_TAIL_REPLAY)
        for (const ev of gap) out.send(ev)
        if (to - from > MAX_TAIL_REPLAY && !out.closed) {
          // too far behind: skip to the live end, and say so
          positions.set(s, to)
          out.write(`event: gap\ndata: ${JSON.stringify({ stream: s, from, to, skipped: to - from - MAX_TAIL_REPLAY })}\n\n`)
        }
      }
    } else if (history > 0) {
      // the latest stored events of each stream, merged by time, before the live ones
      const recent = await Promise.all(streams.map(async s => {
        const to = high.get(s)!
        const from = Math.max(0, to - history)
        positions.set(s, from)
        return await tail.range(s, from, to, history)
      }))
      for (const ev of mergeByTime(recent)) out.send(ev)
      for (const s of streams) positions.set(s, high.get(s)!)
    }
    // the position at the live end, so a client that drops before its next event resumes here
    out.write(`id: ${formatPositions(positions)}\nevent: position\ndata:\n\n`)
  }

  frame (ev: TailEvent): string | undefined {
    const { positions } = this
    if (ev.seq <= (positions.get(ev.stream) ?? Number.MAX_SAFE_INTEGER)) return undefined
    positions.set(ev.stream, ev.seq)
    // an event the filters drop still moves the position, so a resume does not read it again
    if (!this.opts.keep(ev)) return undefined
    return `id: ${formatPositions(positions)}\nevent: ${ev.type === '' ? 'message' : ev.type}\ndata: ${ev.json}\n\n`
  }
}

/** Merges per-stream lists (each in sequence order) by time, keeping each stream's order. */
export function mergeByTime (lists: TailEvent[][]): TailEvent[] {
  const at = lists.map(() => 0)
  const out: TailEvent[] = []
  while (true) {
    let best = -1
    for (let i = 0; i < lists.length; i++) {
      const head = lists[i]![at[i]!]
      if (head !== undefined && (best < 0 || head.time < lists[best]![at[best]!]!.time)) best = i
    }
    if (best < 0) return out
    out.push(lists[best]![at[best]!]!)
    at[best]!++
  }
}
