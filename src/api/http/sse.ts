import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import type { HubEvent } from '../../store/hub.js'
import type { StreamTail } from '../../store/tail.js'

// Server-Sent Events: the one writer of every SSE route (streamSse). A route says what it
// streams as a feed: how to listen live, what to write before the live events (the stored gap
// a resuming client missed) and each event's frame on this connection. The writer does the
// rest the same way for all: the connection caps, the head, the `retry:` hint, the hand-over
// from replay to live by sequence (listen first and hold, note the high-water mark, replay up
// to it, flush what was held past it: no gap, no duplicate), heartbeats, the drop of a client
// that does not read, and the teardown. Two uses: one stream's events keyed from a hub
// (streamEvents, below: jobs, tasks, callbacks) and the console's multi-stream tail
// (src/api/http/sse-tail.ts).
//
// A spec-compliant EventSource gives up for good on any answer but 200, so a stream that
// cannot be served now (a cap, the rate limit, the event store away, the server closing) is
// answered 200 with a `retry:` hint and ends at once: the client comes back by itself
// (answerLater). Only a request that can never succeed gets a 4xx.

export interface SseLimits {
  /** open SSE responses this process serves at most */
  maxConnections: number
  /** open SSE responses one user holds at most in this process */
  maxPerUser: number
  /** a client whose unsent output passes this many bytes is disconnected (it resumes by id) */
  maxBufferedBytes: number
  heartbeatMs: number
}

/** The reconnection time every stream announces. */
export const RETRY_MS = 2000
/** Seconds a client turned away is told to wait when nothing (a Retry-After) says otherwise. */
const LATER_S = 5
/** Events held back while a replay runs; past this the connection is dropped (it resumes by id). */
const MAX_PENDING = 10_000
const HEARTBEAT = ': heartbeat\n\n'

/** How a stream ends: done (kept-alive connection), closing (the server: its connection too), dropped (destroyed). */
type Ending = 'done' | 'closing' | 'dropped'

interface Open {
  end: (how: Ending) => void
}

/** The open SSE responses of one process: the caps on them, and their teardown on close. */
export class SseConnections {
  readonly limits: SseLimits
  private readonly open = new Set<Open>()
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

  /** Takes a slot for `stream` of `user`; answers why not when a cap is reached. */
  admit (stream: Open, user: string | undefined): string | undefined {
    const { maxConnections, maxPerUser } = this.limits
    if (this.open.size >= maxConnections) return `this instance serves at most ${maxConnections} SSE connections`
    if (user !== undefined && this.countOf(user) >= maxPerUser) return `a user may hold at most ${maxPerUser} SSE connections to this instance`
    this.open.add(stream)
    if (user !== undefined) this.perUser.set(user, this.countOf(user) + 1)
    return undefined
  }

  release (stream: Open, user: string | undefined): void {
    if (!this.open.delete(stream) || user === undefined) return
    const n = this.countOf(user) - 1
    if (n > 0) this.perUser.set(user, n)
    else this.perUser.delete(user)
  }

  /** Ends every open stream and its connection (clients resume by id elsewhere or after the restart). */
  closeAll (): void {
    for (const stream of [...this.open]) stream.end('closing')
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

/** The headers of an event stream, as every SSE route sends them. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no'
} as const

/** True for a route that answers an event stream: its 200 is documented as `text/event-stream` (openapi.ts sseResponse). */
export function isSseRoute (request: FastifyRequest): boolean {
  const response = (request.routeOptions.schema as { response?: Record<string, { content?: Record<string, unknown> } | undefined> } | undefined)?.response
  return response?.[200]?.content?.['text/event-stream'] !== undefined
}

/**
 * Answers an SSE request that cannot be served now so that its client comes back by itself:
 * 200, a `retry:` hint of about `afterS` seconds (spread from half to one and a half times, so
 * that clients turned away together do not come back together), a comment that says why, and
 * the end. An EventSource reconnects after `retry:` when a stream ends, with the Last-Event-ID
 * it had (a 429 or 503 would have ended it for good).
 */
export function answerLater (request: FastifyRequest, reply: FastifyReply, afterS: number, reason: string): FastifyReply {
  const retryMs = Math.round(afterS * 1000 * (0.5 + Math.random()))
  request.log.warn({ reason, retryMs }, 'SSE stream cannot be served now: the client is told to come back')
  return reply.code(200).headers(SSE_HEADERS).header('retry-after', String(afterS))
    .send(`retry: ${retryMs}\n: ${reason.replace(/[\r\n]+/g, ' ')}\n\n`)
}

/**
 * The error answer of an SSE route, when it is one the client should retry (429, 5xx): the
 * come-back-later stream, after the answer's Retry-After when it has one. Undefined otherwise
 * (a 4xx is for a request that can never succeed, and ends an EventSource, as it should).
 */
export function sseErrorAnswer (request: FastifyRequest, reply: FastifyReply, status: number, detail: string): FastifyReply | undefined {
  if ((status !== 429 && status < 500) || !isSseRoute(request)) return undefined
  const after = Number(reply.getHeader('retry-after'))
  return answerLater(request, reply, Number.isInteger(after) && after > 0 ? after : LATER_S, `${status}: ${detail}`)
}

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

/**
 * Ends an SSE response. A client that does not read (its buffer is full) is destroyed: ending
 * would wait for it to drain first. A stream that ends while the server runs keeps its
 * connection, as any answer does: its head said keep-alive, and a client may already be
 * sending its next request on it (closing under it would answer that request with nothing).
 * While the server closes, the connection closes once the end is out, so the reconnect comes
 * on a new one (refused, or to another instance) and the close need not wait for it to idle out.
 */
function endResponse (res: ServerResponse, how: Ending): void {
  if (how === 'dropped' || res.writableLength > 0) {
    res.destroy()
  } else if (how === 'closing') {
    const socket = res.socket
    res.end(() => { socket?.end() })
  } else {
    res.end()
  }
}

/** What an SSE route streams on one connection; streamSse writes it. */
export interface SseFeed<E> {
  /** whose connection it is, for the per-user cap (undefined: only the instance cap applies) */
  readonly user: string | undefined
  /** Listens live. What arrives before open() has finished waits for it. */
  listen: (fn: (ev: E) => void) => (() => void) | Promise<() => void>
  /**
   * Called once listening: notes where the live events begin (the high-water mark), then
   * writes what comes before them: an opening position, the stored gap (out.send per event).
   */
  open: (out: SseOut<E>) => Promise<void>
  /** An event's frame on this connection; undefined when it is not for it (sent already, filtered out). */
  frame: (ev: E) => string | Buffer | undefined
}

export interface SseOut<E> {
  send: (ev: E) => void
  write: (text: string) => void
  readonly closed: boolean
}

/** One open SSE response: what it holds back during the replay, its heartbeat, its end. */
class SseStream<E> implements SseOut<E>, Open {
  closed = false
  /** live events held while open() runs; undefined once live */
  pending: E[] | undefined = []
  heartbeat?: NodeJS.Timeout
  unlisten?: () => void
  /** the head is written: ending ends the response */
  started = false
  private readonly request: FastifyRequest
  private readonly res: ServerResponse
  private readonly connections: SseConnections
  private readonly feed: SseFeed<E>

  constructor (request: FastifyRequest, res: ServerResponse, connections: SseConnections, feed: SseFeed<E>) {
    this.request = request
    this.res = res
    this.connections = connections
    this.feed = feed
  }

  /** A live event: held while the replay runs, then sent. */
  readonly listener = (ev: E): void => {
    if (this.pending === undefined) this.send(ev)
    else if (this.pending.push(ev) > MAX_PENDING) this.end('dropped')
  }

  send (ev: E): void {
    if (this.closed) return
    const frame = this.feed.frame(ev)
    if (frame !== undefined) this.write(frame)
  }

  write (text: string | Buffer): void {
    if (this.closed) return
    this.res.write(text)
    if (this.res.writableLength > this.connections.limits.maxBufferedBytes) {
      this.request.log.warn({ buffered: this.res.writableLength }, 'SSE client too slow: dropping it (it resumes by Last-Event-ID)')
      this.end('dropped')
    }
  }

  /** Sends what was held back during the replay (what the replay sent already is skipped by its frame), then goes live. */
  goLive (): void {
    const held = this.pending ?? []
    this.pending = undefined
    for (const ev of held) this.send(ev)
  }

  /** Ends the stream once: its listening, slot and heartbeat, then the response. */
  end (how: Ending = 'done'): void {
    if (this.closed) return
    this.closed = true
    this.pending = undefined
    this.unlisten?.()
    this.connections.release(this, this.feed.user)
    clearInterval(this.heartbeat)
    if (this.started) endResponse(this.res, how)
  }
}

/**
 * Streams one SSE connection of `feed`: listen live first and hold, then (open) note the
 * high-water mark and replay the gap up to it, then flush what was held past it and go live.
 * Turned away with answerLater when a connection cap is reached.
 */
export async function streamSse<E> (request: FastifyRequest, reply: FastifyReply, connections: SseConnections, feed: SseFeed<E>): Promise<void> {
  if (answeredHead(request, reply)) return
  const stream = new SseStream(request, reply.raw, connections, feed)
  const refused = connections.admit(stream, feed.user)
  if (refused !== undefined) {
    answerLater(request, reply, LATER_S, `${refused}; come back later`)
    return
  }
  let unlisten: () => void
  try {
    unlisten = await feed.listen(stream.listener)
  } catch (err) {
    stream.end()
    throw err
  }
  stream.unlisten = unlisten
  // closeAll ended it while it started listening: the server is closing
  if (stream.closed) {
    unlisten()
    throw new JetwayError(ErrorCodes.unavailable, 'the server is closing; retry')
  }
  const res = reply.raw
  reply.hijack()
  writeSseHead(res, sseHead(request, reply))
  stream.started = true
  res.on('close', () => { stream.end() })
  // the client may have gone while it started listening
  if (res.destroyed || request.raw.socket?.destroyed === true) {
    stream.end()
    return
  }
  stream.heartbeat = setInterval(() => { stream.write(HEARTBEAT) }, connections.limits.heartbeatMs)
  stream.write(`retry: ${RETRY_MS}\n\n`)
  try {
    await feed.open(stream)
    if (!stream.closed) stream.goLive()
  } catch (err) {
    request.log.error({ err }, 'SSE replay failed; closing (the client resumes by id)')
    stream.end()
  }
}

export interface StreamOptions<E extends HubEvent> {
  hub: StreamTail<E>
  connections: SseConnections
  /** whose connection this is, for the per-user cap (undefined: only the instance cap applies) */
  user: string | undefined
  /** live fan-out key */
  key: string
  /** the stored events after a sequence up to another: the gap a resume replays */
  replay: (afterSeq: number, toSeq: number) => AsyncIterable<E>
  /**
   * Without a Last-Event-ID: true replays from the stream's start (a job's status); false is
   * live only, and the stream then opens with `id: <high-water sequence>`, so a client that
   * drops before its first event resumes from there with no gap.
   */
  replayFromStart: boolean
}

const frames = new WeakMap<HubEvent, Buffer>()
/** An event's SSE frame, encoded once however many connections it goes to (a broadcast). */
function frameOf (ev: HubEvent): Buffer {
  let frame = frames.get(ev)
  if (frame === undefined) frames.set(ev, frame = Buffer.from(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${ev.data}\n\n`))
  return frame
}

/** One stream's events on one key of its hub: `id:` is the stream sequence. */
class HubFeed<E extends HubEvent> implements SseFeed<E> {
  /** the last sequence sent (or skipped as before the resume point) */
  private lastSent = 0
  private readonly opts: StreamOptions<E>
  private readonly lastEventId: number | undefined

  constructor (opts: StreamOptions<E>, lastEventId: number | undefined) {
    this.opts = opts
    this.lastEventId = lastEventId
  }

  get user (): string | undefined {
    return this.opts.user
  }

  listen (fn: (ev: E) => void): () => void {
    return this.opts.hub.subscribe(this.opts.key, fn)
  }

  async open (out: SseOut<E>): Promise<void> {
    const { hub, replayFromStart, replay } = this.opts
    const high = hub.highWater
    this.lastSent = this.lastEventId ?? (replayFromStart ? 0 : high)
    // Live only: open at the high-water mark, so a client that drops before its first event
    // resumes from there. The id rides on an empty `position` event: the spec lets a bare `id:`
    // set the last event id, but some clients (the `eventsource` package) take ids only from
    // events with a data line. Listeners of the usual event types never see it.
    if (this.lastEventId === undefined && !replayFromStart) out.write(`id: ${high}\nevent: position\ndata:\n\n`)
    for await (const ev of replay(this.lastSent, high)) {
      if (out.closed) return
      out.send(ev)
    }
  }

  frame (ev: E): Buffer | undefined {
    if (ev.seq <= this.lastSent) return undefined
    this.lastSent = ev.seq
    return frameOf(ev)
  }
}

/** Streams one stream's events of one hub key (a job, a user's jobs, a task, callbacks). */
export async function streamEvents<E extends HubEvent> (request: FastifyRequest, reply: FastifyReply, lastEventId: number | undefined, opts: StreamOptions<E>): Promise<void> {
  await streamSse(request, reply, opts.connections, new HubFeed(opts, lastEventId))
}
