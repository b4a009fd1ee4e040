import { join } from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { Config } from '../config.js'
import { startNatsServer } from './nats-server.js'
import { closeNats } from './connection.js'

export interface OpsConnection {
  nc: NatsConnection
  jsm: JetStreamManager
  /** the server's URL, and how it was found */
  url: string
  via: 'NATS_URL' | 'running' | 'started'
  close: () => Promise<void>
}

/**
 * The NATS an operator's script (backup, restore) works on, found as `npm start` would:
 * NATS_URL; else the embedded server of a running `npm start` on NATS_PORT; else that embedded
 * server started here on DATA_DIR/nats (with the same sync settings) and stopped by close().
 */
export async function opsConnection (config: Config, name: string): Promise<OpsConnection> {
  if (config.natsUrl !== undefined) {
    const nc = await connect({ servers: config.natsUrl.split(','), name, maxReconnectAttempts: 10 })
    return { nc, jsm: await jetstreamManager(nc), url: config.natsUrl, via: 'NATS_URL', close: async () => { await closeNats(nc) } }
  }
  const local = `nats://127.0.0.1:${config.natsPort}`
  const running = await connect({ servers: local, name, reconnect: false }).catch(() => undefined)
  if (running !== undefined) return { nc: running, jsm: await jetstreamManager(running), url: local, via: 'running', close: async () => { await closeNats(running) } }
  const server = await startNatsServer({ port: config.natsPort, storeDir: join(config.dataDir, 'nats'), sync: config.natsSync })
  try {
    const nc = await connect({ servers: server.url, name, reconnect: false })
    return {
      nc,
      jsm: await jetstreamManager(nc),
      url: server.url,
      via: 'started',
      close: async () => {
        await closeNats(nc)
        await server.stop()
      }
    }
  } catch (err) {
    await server.stop()
    throw err
  }
}
