import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import type { HubEvent, StreamHub } from '../../store/hub.js'
import { sendProblem } from './errors.js'

// Server-Sent Events: writing one response from a stream hub (src/store/hub.ts). Live events
// come from the hub's in-process fan-out; a resuming client's gap is replayed from the stream
// leader and handed over to the live tail by sequence, with no gap and no duplicate.

export interface SseLimits {
  /** open SSE responses this process serves at most */
  maxConnections: number
  /** open SSE responses one user holds at most in this process */
  maxPerUser: number
  /** a client whose unsent output passes this many bytes is disconnected (it resumes by id) */
  maxBufferedBytes: number
  heartbeatMs: number
}

/** Seconds a client turned away by a connection cap is told to wait. */
const RETRY_AFTER_S = 5
/** Events held back while a replay runs; past this the connection is dropped (it resumes by id). */
const MAX_PENDING = 10_000

/** The open SSE responses of one app: the caps on them, and their teardown on close. */
export class SseConnections {
  readonly limits: SseLimits
  private readonly open = new Set<() => void>()
  private readonly perUser = new Map<string, number>()

  constructor (limits: SseLimits) {
    this.limits = limits
  }

  get count (): number {
    return this.open.size
  }

  countOf (user: string): number {
    return this.perUser.get(user) ?? 0
  }

  /**
   * A slot for one more connection of `user`: its release, or undefined when a cap is
   * reached (and then `reply` has been answered 429 with Retry-After).
   */
  admit (request: FastifyRequest, reply: FastifyReply, user: string | undefined): { release: () => void, track: (end: () => void) => void } | undefined {
    const { maxConnections, maxPerUser } = this.limits
    let detail: string | undefined
    if (this.open.size >= maxConnections) detail = `this instance serves at most ${maxConnections} SSE connections; retry later`
    else if (user !== undefined && this.countOf(user) >= maxPerUser) detail = `a user may hold at most ${maxPerUser} SSE connections to this instance; close one or retry later`
    if (detail !== undefined) {
      request.log.warn({ user, open: this.open.size }, 'SSE connection refused: cap reached')
      reply.header('retry-after', String(RETRY_AFTER_S))
      sendProblem(request, reply, 429, 'JETWAY_TOO_MANY_CONNECTIONS', detail)
      return undefined
    }
    if (user !== undefined) this.perUser.set(user, this.countOf(user) + 1)
    let end: (() => void) | undefined
    let released = false
    return {
      track: fn => { end = fn; this.open.add(fn) },
      release: () => {
        if (released) return
        released = true
        if (end !== undefined) this.open.delete(end)
        if (user === undefined) return
        const n = this.countOf(user) - 1
        if (n > 0) this.perUser.set(user, n)
        else this.perUser.delete(user)
      }
    }
  }

  /** Ends every open response (clients resume by id elsewhere or after the restart). */
  closeAll (): void {
    for (const end of [...this.open]) end()
  }
}

const shared = new WeakMap<object, SseConnections>()

/** The one set of SSE connections of a process (per runtime), so the caps hold across every SSE route. */
export function sseConnectionsOf (runtime: { config: { sse: Omit<SseLimits, 'heartbeatMs'>, sseHeartbeatMs: number } }): SseConnections {
  let connections = shared.get(runtime)
  if (connections === undefined) {
    connections = new SseConnections({ ...runtime.config.sse, heartbeatMs: runtime.config.sseHeartbeatMs })
    shared.set(runtime, connections)
  }
  return connections
}

export interface StreamOptions {
  hub: StreamHub
  connections: SseConnections
  /** whose connection this is, for the per-user cap (undefined: only the instance cap applies) */
  user: string | undefined
  /** live fan-out key */
  key: string
  /** the stored events after a sequence up to another: the gap a resume replays */
  replay: (afterSeq: number, toSeq: number) => AsyncIterable<HubEvent>
  /**
   * Without a Last-Event-ID: true replays from the stream's start (a job's status); false is
   * live only, and the stream then opens with `id: <high-water sequence>`, so a client that
   * drops before its first event resumes from there with no gap.
   */
  replayFromStart: boolean
}

/** The headers of an event stream, as every SSE route sends them. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no'
} as const

/**
 * A HEAD of an SSE route (Fastify adds one to every GET) answers the stream's headers and ends:
 * it has no body to stream, and left open it would hang with nothing sent and hold a connection
 * slot until the client gave up. True when it was answered so.
 */
export function answeredHead (request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.method !== 'HEAD') return false
  reply.code(200).headers(SSE_HEADERS).send()
  return true
}

/**
 * The head of an SSE answer, with the headers the hooks set on the reply (security headers,
 * CORS, rate limit) and the request id, which a hijacked reply would not send.
 */
export function sseHead (request: FastifyRequest, reply: FastifyReply): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = { ...request.server.securityHeaders }
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) head[name] = value
  return {
    ...head,
    'x-request-id': request.id,
    ...SSE_HEADERS,
    connection: 'keep-alive'
  }
}

/**
 * Writes an SSE response's head. Node keeps the head it wrote (`_header`) for the life of the
 * response as a rope of ~70 string pieces, 2.2 KB per open stream (heap snapshot at 5,000
 * streams); reading one character flattens it in place to one string of ~600 bytes.
 */
export function writeSseHead (res: ServerResponse, head: OutgoingHttpHeaders): void {
  res.writeHead(200, head)
  const written = (res as { _header?: unknown })._header
  if (typeof written === 'string') written.charCodeAt(0)
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

const frames = new WeakMap<HubEvent, Buffer>()
/** An event's SSE frame, encoded once however many connections it goes to (a broadcast). */
function frameOf (ev: HubEvent): Buffer {
  let frame = frames.get(ev)
  if (frame === undefined) frames.set(ev, frame = Buffer.from(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${ev.data}\n\n`))
  return frame
}

/**
 * Ends an SSE response. A client that does not read (its buffer is full) is destroyed: ending
 * would wait for it to drain first. Otherwise the connection closes once the end is out: a
 * reconnect must not come back on it while the server is closing (it would get a 503, on which
 * an EventSource gives up for good), and the server's close need not wait for it to idle out.
 */
export function endResponse (res: ServerResponse, destroy: boolean): void {
  if (destroy || res.writableLength > 0) {
    res.destroy()
  } else {
    const socket = res.socket
    res.end(() => { socket?.end() })
  }
}

/**
 * Streams one SSE connection: register live first and buffer, note the high-water mark,
 * replay the gap up to it, flush the buffer past it, then go live. No gap, no duplicate.
 * Answers 429 (with Retry-After) instead when a connection cap is reached.
 */
export async function streamEvents (request: FastifyRequest, reply: FastifyReply, lastEventId: number | undefined, opts: StreamOptions): Promise<void> {
  const { hub, connections } = opts
  const { maxBufferedBytes, heartbeatMs } = connections.limits
  if (answeredHead(request, reply)) return
  const slot = connections.admit(request, reply, opts.user)
  if (slot === undefined) return
  reply.hijack()
  const res = reply.raw

  writeSseHead(res, sseHead(request, reply))

  let closed = false
  // Sync from here to the replay: no hub event can slip between the subscribe and the mark.
  const high = hub.highWater
  let lastSent = lastEventId ?? (opts.replayFromStart ? 0 : high)
  let pending: HubEvent[] | undefined = []
  const write = (text: string | Buffer): void => {
    if (closed) return
    res.write(text)
    if (res.writableLength > maxBufferedBytes) {
      request.log.warn({ buffered: res.writableLength }, 'SSE client too slow: dropping it (it resumes by Last-Event-ID)')
      end(true)
    }
  }
  const send = (ev: HubEvent): void => {
    if (closed || ev.seq <= lastSent) return
    lastSent = ev.seq
    write(frameOf(ev))
  }
  const unsubscribe = hub.subscribe(opts.key, ev => {
    if (pending === undefined) send(ev)
    else if (pending.push(ev) > MAX_PENDING) end(true)
  })
  const heartbeat = setInterval(() => { write(': heartbeat\n\n') }, heartbeatMs)
  /** Ends the stream once: its subscription, slot and heartbeat, then the response. */
  function end (destroy = false): void {
    if (closed) return
    closed = true
    unsubscribe()
    slot!.release()
    clearInterval(heartbeat)
    endResponse(res, destroy)
  }
  slot.track(() => end())
  res.on('close', () => end())

  // Live only: open at the high-water mark, so a client that drops before its first event
  // resumes from there. The id rides on an empty `position` event: the spec lets a bare `id:`
  // set the last event id, but some clients (the `eventsource` package) take ids only from
  // events with a data line. Listeners of the usual event types never see it.
  write(lastEventId === undefined && !opts.replayFromStart ? `retry: 2000\n\nid: ${high}\nevent: position\ndata:\n\n` : 'retry: 2000\n\n')
  try {
    for await (const ev of opts.replay(lastSent, high)) {
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
