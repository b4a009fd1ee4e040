import { connect, type NatsConnection } from '@nats-io/transport-node'
import { ProtocolHandler, RequestOne } from '@nats-io/nats-core/internal'
import { within } from '../lib/concurrency.js'

/**
 * A connection to NATS as every part of Jetway opens it (the HTTP thread, the projection
 * thread): reconnects forever. noAsyncTraces: nats.js otherwise builds two Error objects (stack
 * traces) per publish, which cost a sixth of the CPU of an ingest request.
 */
export async function connectNats (servers: string, name: string): Promise<NatsConnection> {
  return await connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, noAsyncTraces: true })
}

/**
 * nats.js 3.4 ends every request it has answered with cancel(), which builds a
 * RequestError("cancelled") (a stack trace) to reject a promise that is already resolved: a
 * twentieth of the CPU of an ingest request, once per JetStream publish (profiled). A request
 * already answered is cancelled here without that error; any other cancel is nats.js's own.
 */
function skipCancelErrorOnAnsweredRequests (): void {
  type Request = { resolver: (err: Error | null, msg: unknown) => void, cancel: (err?: Error) => void, timer?: { cancel: () => void }, mux: { cancel: (r: unknown) => void }, [answered]?: true }
  const proto = RequestOne.prototype as unknown as Request
  if (typeof proto.resolver !== 'function' || typeof proto.cancel !== 'function') return // another nats.js: leave it be
  const { resolver, cancel } = proto
  proto.resolver = function (this: Request, err, msg) {
    this[answered] = true
    resolver.call(this, err, msg)
  }
  proto.cancel = function (this: Request, err) {
    if (err !== undefined || this[answered] !== true) { cancel.call(this, err); return }
    this.timer?.cancel()
    this.mux.cancel(this)
  }
}
const answered = Symbol('answered')
skipCancelErrorOnAnsweredRequests()

/**
 * nats.js 3.4 writes what is queued for the server at the end of the current task (a
 * microtask). An HTTP request is a task of its own, so under load every request cost its own
 * socket write, the largest item of an ingest profile (13% in writeBuffer). Here the queue is
 * written once the event loop has run what it read (setImmediate): the publishes of all the
 * requests that arrived together leave in one write, for well under a millisecond of delay.
 * Measured: single-event ingest +35% (bench:ingest). Past nats.js's pending limit it still
 * writes at once, as before.
 */
function coalesceWrites (): void {
  type Handler = { outbound: { length: () => number, size: () => number, fill: (buf: Uint8Array, ...payloads: Uint8Array[]) => void }, pendingLimit: number, flushPending: () => void }
  const proto = ProtocolHandler.prototype as unknown as Handler & { sendCommand: (cmd: string | Uint8Array, ...payloads: Uint8Array[]) => void }
  if (typeof proto.sendCommand !== 'function' || typeof proto.flushPending !== 'function') return // another nats.js: leave it be
  proto.sendCommand = function (this: Handler, cmd, ...payloads) {
    const len = this.outbound.length()
    this.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads)
    if (len === 0) setImmediate(() => { this.flushPending() })
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending()
  }
}
const encoder = new TextEncoder()
coalesceWrites()

/**
 * Drains a connection, or closes it outright: when the server does not answer a ping within a
 * second (a drain waits for the server, and one that is gone is waited for forever), or when
 * the drain takes over `drainMs`.
 */
export async function closeNats (nc: NatsConnection, drainMs = 5000): Promise<void> {
  const answers = await within(nc.flush().then(() => true, () => false), 1000)
  if (answers === true) await within(nc.drain().catch(() => {}), drainMs)
  if (!nc.isClosed()) await nc.close()
}
