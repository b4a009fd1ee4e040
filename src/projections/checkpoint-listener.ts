import pg from 'pg'
import type { Logger } from 'pino'

// On a PostgreSQL shared by a fleet, the projection a read waits on (read-your-writes) is most
// often applied by another instance. Every checkpoint change is announced when its transaction
// commits (NOTIFY jetway_checkpoints, the projection's name: migration 0013's trigger); one
// LISTEN session per process wakes the reads waiting on that projection, which then read the
// checkpoint. While the session is down the waits fall back to looking now and then. The same
// announcements let a process keep each checkpoint it read until it changes (ReadModels), so a
// read costs one query on PostgreSQL, not two.

const CHANNEL = 'jetway_checkpoints'
const RECONNECT_MS = 1000

export class CheckpointListener {
  private readonly waiting = new Map<string, { promise: Promise<void>, resolve: () => void }>()
  private client?: pg.Client
  private listening = false
  private closed = false
  private retry?: NodeJS.Timeout
  /** announced changes per projection, and sessions begun: what a cached checkpoint was read at */
  private readonly heard = new Map<string, number>()
  private sessions = 0

  constructor (private readonly url: string, private readonly log: Logger) {}

  async start (): Promise<void> {
    await this.connect()
  }

  /**
   * Where the announcements of a projection's checkpoint stand: a checkpoint read while it
   * stays the same is still current. undefined while nothing is heard (no LISTEN session).
   */
  stamp (name: string): string | undefined {
    return this.listening ? `${this.sessions}:${this.heard.get(name) ?? 0}` : undefined
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
    this.heard.set(name, (this.heard.get(name) ?? 0) + 1)
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
      this.listening = false
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
      if (this.client === client) {
        this.sessions++
        this.listening = true
      }
    } catch (err) {
      down(err as Error)
      throw err
    }
  }
}
