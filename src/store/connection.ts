import { connect, type NatsConnection } from '@nats-io/transport-node'

/**
 * A connection to NATS as every part of Jetway opens it (the HTTP thread, the projection
 * thread): reconnects forever. noAsyncTraces: nats.js otherwise builds two Error objects (stack
 * traces) per publish, which cost a sixth of the CPU of an ingest request.
 */
export async function connectNats (servers: string, name: string): Promise<NatsConnection> {
  return await connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, noAsyncTraces: true })
}
