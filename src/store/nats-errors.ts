import { errors, RequestError } from '@nats-io/transport-node'
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream'

// Which NATS and JetStream failures mean "the event store cannot take this now; the same
// request will work in a moment": a node lost, a stream or consumer leader being elected, the
// client reconnecting to another node. On a 3-node cluster these last a few seconds after a
// node dies. The API answers them 503 with Retry-After (src/api/http/errors.ts), never 500.
//
// A publish that timed out may still have been stored (the ack was lost, not the message):
// a retry with the same idempotency key (Nats-Msg-Id) inside the duplicate window is then
// answered as a duplicate and stores nothing new.

/** JetStream API error codes (err_code) of a cluster that cannot serve a request now. */
const UNAVAILABLE_API_CODES = new Set([
  10005, // no suitable peers for placement (too few nodes up for the replicas asked)
  10007, // JetStream cluster not assigned to this server
  10008, // JetStream system temporarily unavailable
  10009, // JetStream cluster can not handle request (no meta leader)
  10118, // stream is offline
  10119 // consumer is offline
])

export type UnavailableKind = 'timeout' | 'no-leader' | 'cluster' | 'connection'

/**
 * What kind of transient unavailability an error is (looking through `cause` chains), or
 * undefined when it is anything else (a bug, a bad request, a conflict).
 */
export function unavailableKind (err: unknown, depth = 0): UnavailableKind | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined
  if (err instanceof errors.TimeoutError) return 'timeout'
  if (err instanceof errors.NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return 'no-leader'
  // nats.js reports a publish that no stream leader answered (no responders) as "jetstream is
  // not enabled": during an election nobody listens on the stream's subjects for a moment
  // (JetStreamNotEnabled, not exported by @nats-io/jetstream: known by its name, with the no responders as its cause)
  if ((err as Error).name === 'JetStreamNotEnabled') return 'no-leader'
  if (err instanceof JetStreamApiError) {
    if (err.status === 503 || UNAVAILABLE_API_CODES.has(err.code) || /no suitable peers/i.test(err.message)) return 'cluster'
    return undefined
  }
  // a consumer read cut short by a leader change or a lost node (pull status 409, missed heartbeats)
  // (JetStreamStatusError is a JetStreamError)
  if (err instanceof JetStreamError && /leadership change|heartbeats? missed/i.test(err.message)) return 'no-leader'
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError || err instanceof errors.ConnectionError) return 'connection'
  return unavailableKind((err as { cause?: unknown }).cause, depth + 1)
}
