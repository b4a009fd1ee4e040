import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'

/**
 * Whether the NATS connection is up now, from the client's status events: down from a
 * disconnect (and while it reconnects) until a reconnect, and for good once closed.
 */
export class NatsStatus {
  private up = true
  private since = Date.now()
  private readonly nc: NatsConnection

  constructor (nc: NatsConnection, log: Logger) {
    this.nc = nc
    const watch = async (): Promise<void> => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnecting' || s.type === 'staleConnection' || s.type === 'close') {
          // a close we asked for (drain at shutdown) is no loss
          const ours = s.type === 'close' && nc.isDraining()
          if (this.up && !ours) log.warn({ status: s.type }, 'NATS connection lost')
          this.set(false)
        } else if (s.type === 'reconnect') {
          log.info({ server: s.server }, 'NATS connection back')
          this.set(true)
        }
      }
    }
    watch().catch((err: unknown) => log.error({ err }, 'NATS status watch ended'))
  }

  get connected (): boolean {
    return this.up && !this.nc.isClosed() && !this.nc.isDraining()
  }

  /** ms since the connection last went up or down */
  get sinceMs (): number {
    return Date.now() - this.since
  }

  private set (up: boolean): void {
    if (up !== this.up) this.since = Date.now()
    this.up = up
  }
}
