import pg from 'pg'
import type { Logger } from 'pino'

// On a PostgreSQL shared by a fleet, the projection a read waits on (read-your-writes) is most
// often applied by another instance. Every checkpoint change is announced when its transaction
// commits (NOTIFY jetway_checkpoints, the projection's name: migration 0011's trigger); one
// LISTEN session per process wakes the reads waiting on that projection, which then read the
// checkpoint. While the session is down the waits fall back to looking now and then.

const CHANNEL = 'jetway_checkpoints'
const RECONNECT_MS = 1000

export class CheckpointListener {
  private readonly waiting = new Map<string, { promise: Promise<void>, resolve: () => void }>()
  private client?: pg.Client
  private closed = false
  private retry?: NodeJS.Timeout

  constructor (private readonly url: string, private readonly log: Logger) {}

  async start (): Promise<void> {
    await this.connect()
  }

  /** Resolves at the next announced change of the projection's checkpoint. */
  async changed (name: string): Promise<void> {
    let entry = this.waiting.get(name)
    if (entry === undefined) {
      let wake!: () => void
      const promise = new Promise<void>(resolve => { wake = resolve })
      entry = { promise, resolve: wake }
      this.waiting.set(name, entry)
    }
    return await entry.promise
  }

  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.retry)
    await this.client?.end().catch(() => {})
    this.client = undefined
  }

  private wake (name: string): void {
    const entry = this.waiting.get(name)
    if (entry === undefined) return
    this.waiting.delete(name)
    entry.resolve()
  }

  private async connect (): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'jetway-checkpoints', keepAlive: true, connectionTimeoutMillis: 10_000 })
    const down = (err?: Error): void => {
      if (this.client !== client) return
      this.client = undefined
      client.end().catch(() => {})
      if (this.closed) return
      this.log.warn({ err }, `the LISTEN session for checkpoints ended; again in ${RECONNECT_MS} ms`)
      // whoever waits looks at the checkpoints now (a change may have gone unheard)
      for (const name of [...this.waiting.keys()]) this.wake(name)
      this.retry = setTimeout(() => { this.connect().catch(() => {}) }, RECONNECT_MS)
    }
    this.client = client
    client.on('error', down)
    client.on('end', () => down())
    client.on('notification', n => { if (n.channel === CHANNEL && n.payload !== undefined) this.wake(n.payload) })
    try {
      await client.connect()
      await client.query(`LISTEN ${CHANNEL}`)
    } catch (err) {
      down(err as Error)
      throw err
    }
  }
}
