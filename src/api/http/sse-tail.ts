import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import type { EventTail, TailEvent } from '../../store/tail.js'
import { answeredHead, endResponse, sseHead, writeSseHead, type SseConnections } from './sse.js'

// The console's live event tail over SSE: the events of several streams on one connection.
// Its `id:` is the position in every stream of the connection, `COLLECT:5,JOBS:12,…`, so a
// client resuming with Last-Event-ID continues each stream with no gap and no duplicate. The
// hand-over is the one the single-stream routes use (src/api/http/sse.ts): listen live first and
// buffer, note each stream's high-water mark, replay the gap up to it, flush the buffer past it.

/** Events a resume replays per stream; past it the client is told what was skipped. */
export const MAX_TAIL_REPLAY = 1000
/** Events held back while a replay runs; past it the connection is dropped (it resumes by id). */
const MAX_PENDING = 10_000
const RETRY_MS = 2000

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

/** Streams one tail connection (or answers 429 when a connection cap is reached). */
export async function streamTail (request: FastifyRequest, reply: FastifyReply, opts: TailRequest): Promise<void> {
  const { tail, connections, streams, keep } = opts
  const resume = opts.lastEventId === undefined || opts.lastEventId === '' ? undefined : parsePositions(opts.lastEventId)
  if (answeredHead(request, reply)) return
  const slot = connections.admit(request, reply, opts.user)
  if (slot === undefined) return
  const { maxBufferedBytes, heartbeatMs } = connections.limits

  let closed = false
  let pending: TailEvent[] | undefined = []
  const positions: Positions = new Map()
  let unsubscribe: (() => void) | undefined
  const timer: { heartbeat?: NodeJS.Timeout } = {}
  const res = reply.raw

  function end (destroy = false): void {
    if (closed) return
    closed = true
    unsubscribe?.()
    slot!.release()
    clearInterval(timer.heartbeat)
    if (!reply.sent && !res.headersSent) return
    endResponse(res, destroy)
  }
  slot.track(() => end())

  try {
    unsubscribe = await tail.subscribe(streams, ev => {
      if (pending === undefined) send(ev)
      else if (pending.push(ev) > MAX_PENDING) end(true)
    })
  } catch (err) {
    slot.release()
    throw err
  }
  // the server is closing (closeAll ended it while the tails started)
  if (closed) {
    unsubscribe()
    throw new JetwayError(ErrorCodes.unavailable, 'the server is closing; retry')
  }
  // Sync from here to the replay: the marks are where the live events begin.
  const high = new Map(streams.map(s => [s, tail.highWater(s)] as const))
  for (const s of streams) positions.set(s, Math.min(resume?.get(s) ?? high.get(s)!, high.get(s)!))

  reply.hijack()
  writeSseHead(res, sseHead(request, reply))
  res.on('close', () => end())
  // the client may have gone while the tails started
  if (res.destroyed || request.raw.socket?.destroyed === true) {
    end()
    return
  }
  timer.heartbeat = setInterval(() => { write(': heartbeat\n\n') }, heartbeatMs)

  function write (text: string): void {
    if (closed) return
    res.write(text)
    if (res.writableLength > maxBufferedBytes) {
      request.log.warn({ buffered: res.writableLength }, 'tail client too slow: dropping it (it resumes by Last-Event-ID)')
      end(true)
    }
  }
  function send (ev: TailEvent): void {
    if (closed || ev.seq <= (positions.get(ev.stream) ?? Number.MAX_SAFE_INTEGER)) return
    positions.set(ev.stream, ev.seq)
    // an event the filters drop still moves the position, so a resume does not read it again
    if (!keep(ev)) return
    write(`id: ${formatPositions(positions)}\nevent: ${ev.type === '' ? 'message' : ev.type}\ndata: ${ev.json}\n\n`)
  }
  function position (): void {
    write(`id: ${formatPositions(positions)}\nevent: position\ndata:\n\n`)
  }

  write(`retry: ${RETRY_MS}\n\n`)
  try {
    if (resume !== undefined) {
      for (const s of streams) {
        const from = positions.get(s)!
        const to = high.get(s)!
        const gap = await tail.range(s, from, to, MAX_TAIL_REPLAY)
        for (const ev of gap) send(ev)
        if (to - from > MAX_TAIL_REPLAY && !closed) {
          // too far behind: skip to the live end, and say so
          positions.set(s, to)
          write(`event: gap\ndata: ${JSON.stringify({ stream: s, from, to, skipped: to - from - MAX_TAIL_REPLAY })}\n\n`)
        }
      }
    } else if (opts.history > 0) {
      // the latest stored events of each stream, merged by time, before the live ones
      const recent = await Promise.all(streams.map(async s => {
        const to = high.get(s)!
        const from = Math.max(0, to - opts.history)
        positions.set(s, from)
        return await tail.range(s, from, to, opts.history)
      }))
      for (const ev of mergeByTime(recent)) send(ev)
      for (const s of streams) positions.set(s, high.get(s)!)
    }
    if (closed) return
    // the position at the live end, so a client that drops before its next event resumes here
    position()
    for (const ev of pending) send(ev)
    pending = undefined
  } catch (err) {
    request.log.error({ err }, 'tail replay failed; closing (the client resumes by id)')
    end()
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
