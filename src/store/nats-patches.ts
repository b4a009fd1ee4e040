import { ProtocolHandler, RequestOne } from '@nats-io/nats-core/internal'

// Two changes to nats.js's internals, for ingest throughput (profiled; README, Benchmarks).
// Each replaces methods of @nats-io/nats-core 3.4.0 (pinned exactly in package.json) and is
// applied only when every method it touches is, in source, the one it was written against:
// another nats.js keeps its own methods (correct, slower), says so in a process warning, and
// test/store/nats-patches.test.ts fails until the patch is checked against the new source.

export interface NatsPatch {
  name: string
  applied: boolean
  /** why it was not applied */
  reason?: string
}

const patches: NatsPatch[] = []

/** Every patch and whether it applies to the nats.js installed. */
export function natsPatches (): readonly NatsPatch[] {
  return patches
}

/** A method's source with its whitespace collapsed: what a patch compares. */
export function sourceOf (fn: unknown): string | undefined {
  return typeof fn === 'function' ? fn.toString().replace(/\s+/g, ' ').trim() : undefined
}

type Methods = Record<string, (...args: never[]) => unknown>

/**
 * Replaces methods of `proto` with `patch(originals)`, when each original's source is exactly
 * `expected[name]`; the outcome, named `name`, either way.
 */
export function patchMethods (name: string, proto: object, expected: Record<string, string>, patch: (originals: Methods) => Methods): NatsPatch {
  const target = proto as Record<string, unknown>
  const changed = Object.keys(expected).filter(method => sourceOf(target[method]) !== expected[method])
  const outcome: NatsPatch = changed.length === 0
    ? { name, applied: true }
    : { name, applied: false, reason: `${changed.join(', ')} ${changed.length === 1 ? 'is' : 'are'} not the source the patch was written against` }
  if (outcome.applied) {
    const originals = Object.fromEntries(Object.keys(expected).map(method => [method, target[method]])) as Methods
    Object.assign(target, patch(originals))
  } else {
    process.emitWarning(`nats.js patch "${name}" not applied: ${outcome.reason ?? ''}`, { code: 'JETWAY_NATS_PATCH' })
  }
  return outcome
}

// ---- the sources of @nats-io/nats-core 3.4.0 (lib/request.js, lib/protocol.js) ------------

const RESOLVER_3_4_0 = 'resolver(err, msg) { if (this.timer) { this.timer.cancel(); } if (err) { // we have proper stack on timeout if (!(err instanceof errors_1.TimeoutError)) { if (this.ctx) { this.ctx.message = err.message; this.ctx.cause = err; err = this.ctx; } else { err = new errors_1.errors.RequestError(err.message, { cause: err }); } } this.deferred.reject(err); } else { this.deferred.resolve(msg); } this.cancel(); }'
const CANCEL_3_4_0 = 'cancel(err) { if (this.timer) { this.timer.cancel(); } this.mux.cancel(this); this.deferred.reject(err ? err : new errors_1.RequestError("cancelled")); }'
const SEND_COMMAND_3_4_0 = 'sendCommand(cmd, ...payloads) { const len = this.outbound.length(); let buf; if (typeof cmd === "string") { buf = (0, encoders_1.encode)(cmd); } else { buf = cmd; } this.outbound.fill(buf, ...payloads); if (len === 0) { queueMicrotask(() => { this.flushPending(); }); } else if (this.outbound.size() >= this.pendingLimit) { // flush inline this.flushPending(); } }'

/**
 * nats.js 3.4 ends every request it has answered with cancel() (the last line of resolver()),
 * which builds a RequestError("cancelled") (a stack trace) to reject a promise that is already
 * settled: a twentieth of the CPU of an ingest request, once per JetStream publish (profiled).
 * A request already answered is cancelled here as cancel() does, less that error; any other
 * cancel is nats.js's own.
 */
const answered = Symbol('answered')
interface Request { timer?: { cancel: () => void }, mux: { cancel: (r: unknown) => void }, [answered]?: true }
patches.push(patchMethods('skip the cancel error of answered requests', RequestOne.prototype, { resolver: RESOLVER_3_4_0, cancel: CANCEL_3_4_0 }, ({ resolver, cancel }) => ({
  resolver (this: Request, err: Error | null, msg: unknown) {
    this[answered] = true
    ;(resolver as (this: Request, err: Error | null, msg: unknown) => void).call(this, err, msg)
  },
  cancel (this: Request, err?: Error) {
    if (err !== undefined || this[answered] !== true) { (cancel as (this: Request, err?: Error) => void).call(this, err); return }
    this.timer?.cancel()
    this.mux.cancel(this)
  }
})))

/**
 * nats.js 3.4 writes what is queued for the server at the end of the current task (a
 * microtask). An HTTP request is a task of its own, so under load every request cost its own
 * socket write, the largest item of an ingest profile (13% in writeBuffer). Here the queue is
 * written once the event loop has run what it read (setImmediate): the publishes of all the
 * requests that arrived together leave in one write, for well under a millisecond of delay.
 * Measured: single-event ingest +35% (bench:ingest). Past nats.js's pending limit it still
 * writes at once, as sendCommand does.
 */
interface Handler { outbound: { length: () => number, size: () => number, fill: (buf: Uint8Array, ...payloads: Uint8Array[]) => void }, pendingLimit: number, flushPending: () => void }
const encoder = new TextEncoder()
patches.push(patchMethods('coalesce writes', ProtocolHandler.prototype, { sendCommand: SEND_COMMAND_3_4_0 }, () => ({
  sendCommand (this: Handler, cmd: string | Uint8Array, ...payloads: Uint8Array[]) {
    const len = this.outbound.length()
    this.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads)
    if (len === 0) setImmediate(() => { this.flushPending() })
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending()
  }
})))
