import { connect, type NatsConnection } from '@nats-io/transport-node'
// nats.js as Jetway runs it: two internals replaced, when they are the source they were written against
import './nats-patches.js'
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
 * Drains a connection, or closes it outright: when the server does not answer a ping within a
 * second (a drain waits for the server, and one that is gone is waited for forever), or when
 * the drain takes over `drainMs`.
 */
export async function closeNats (nc: NatsConnection, drainMs = 5000): Promise<void> {
  const answers = await within(nc.flush().then(() => true, () => false), 1000)
  if (answers === true) await within(nc.drain().catch(() => {}), drainMs)
  if (!nc.isClosed()) await nc.close()
}
