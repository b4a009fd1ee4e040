import { connect, type NatsConnection } from '@nats-io/transport-node'
import { RequestOne } from '@nats-io/nats-core/internal'

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
