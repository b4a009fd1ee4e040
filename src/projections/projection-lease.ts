import pg from 'pg'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import { postgresOf } from './db.js'

// Who applies a projection's events. With SQLite every instance owns its read models, so its
// runner always holds them. With PostgreSQL a fleet shares them and each projection is applied
// by one instance at a time: the one holding its advisory lock (Marten's and Emmett's way),
// taken with pg_try_advisory_lock on one session per process that holds it until that session
// ends. An instance that dies (a crash, kill -9, OOM) loses its session, so its locks, as soon
// as PostgreSQL sees the connection close; one whose host or network vanished loses it when the
// session's TCP keepalives give up. Both are bounded by PROJECTION_TAKEOVER: the others try
// every fifth of it, and the keepalives are set to give up within the rest.
//
// The lock is not what keeps an event from being applied twice: each batch's transaction
// updates the checkpoint only from the value the runner started from (runner.ts), so a holder
// that lost its lock without knowing it fails its next commit instead of applying it again.

export interface ProjectionLease {
  /** one try: resolves whether this process holds the projection now */
  tryAcquire: (name: string) => Promise<boolean>
  /** how long to wait before trying again */
  readonly tryEveryMs: number
  /** gives it up (another instance may take it at once) */
  release: (name: string) => Promise<void>
  /** calls `listener` with the name of a projection this process held and lost */
  onLost: (listener: (name: string) => void) => void
  close: () => Promise<void>
}

/** SQLite: this process owns its read models. */
export const ownLease: ProjectionLease = {
  tryAcquire: async () => true,
  tryEveryMs: 1000,
  release: async () => {},
  onLost: () => {},
  close: async () => {}
}

/** advisory-lock key space of Jetway's projections (the first of the two int4 keys): "JTW" */
const LOCK_SPACE = 0x4a5457

export interface AdvisoryLeaseOptions {
  url: string
  /** the longest a dead holder's projection waits for another instance */
  takeoverMs: number
  log: Logger
}

/** PostgreSQL: one session holds this process's advisory locks, one per projection. */
export class AdvisoryLease implements ProjectionLease {
  private readonly opts: AdvisoryLeaseOptions
  private readonly log: Logger
  private session?: Promise<pg.Client>
  /** the connected session, once its settings are made */
  private current?: pg.Client
  private readonly held = new Set<string>()
  private readonly listeners: ((name: string) => void)[] = []
  private closed = false
  private queue: Promise<unknown> = Promise.resolve()

  constructor (opts: AdvisoryLeaseOptions) {
    this.opts = opts
    this.log = opts.log.child({ component: 'projection-lease' })
  }

  /** how often an instance that does not hold a projection tries to take it */
  get tryEveryMs (): number {
    return Math.max(100, Math.floor(this.opts.takeoverMs / 5))
  }

  async tryAcquire (name: string): Promise<boolean> {
    if (this.closed) return false
    if (this.held.has(name)) return true
    const rows = await this.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_SPACE, name])
    if (rows[0]?.ok !== true) return false
    this.held.add(name)
    return true
  }

  async release (name: string): Promise<void> {
    if (!this.held.delete(name) || this.session === undefined) return
    await this.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, name]).catch(() => {})
  }

  /** one query at a time on the session (every runner of the process asks on it) */
  private async query<R extends pg.QueryResultRow> (text: string, values: unknown[]): Promise<R[]> {
    const run = this.queue.then(async () => {
      const session = await this.connect()
      return (await session.query<R>(text, values)).rows
    })
    this.queue = run.catch(() => {})
    return await run
  }

  onLost (listener: (name: string) => void): void {
    this.listeners.push(listener)
  }

  async close (): Promise<void> {
    this.closed = true
    const session = await this.session?.catch(() => undefined)
    this.session = undefined
    this.current = undefined
    this.held.clear()
    // ending the session releases every lock it holds
    await session?.end().catch(() => {})
  }

  private async connect (): Promise<pg.Client> {
    this.session ??= this.open()
    return await this.session
  }

  private async open (): Promise<pg.Client> {
    const seconds = Math.max(1, Math.floor(this.opts.takeoverMs / 1000))
    const client = new pg.Client({
      connectionString: this.opts.url,
      application_name: 'jetway-projection-lease',
      connectionTimeoutMillis: 10_000,
      // this side notices a dead server too (and stops applying)
      keepAlive: true,
      keepAliveInitialDelayMillis: Math.max(1000, Math.floor(this.opts.takeoverMs * 0.4))
    })
    const lost = (err?: Error): void => {
      if (this.current !== client) return
      this.current = undefined
      this.session = undefined
      client.end().catch(() => {})
      const names = [...this.held]
      this.held.clear()
      if (names.length > 0 && !this.closed) this.log.warn({ err, projections: names }, 'the session holding the projection locks ended: they are held no longer')
      for (const name of names) for (const listener of this.listeners) listener(name)
    }
    client.on('error', lost)
    client.on('end', () => lost())
    try {
      await client.connect()
      // The server gives a silent client up within the takeover bound: idle + interval x count
      // seconds of keepalives, and unacknowledged data after the same time (PostgreSQL 12+).
      const idle = Math.max(1, Math.floor(seconds * 0.4))
      const interval = Math.max(1, Math.floor(seconds * 0.2))
      await client.query(`SET tcp_keepalives_idle = ${idle}; SET tcp_keepalives_interval = ${interval}; SET tcp_keepalives_count = 2; SET tcp_user_timeout = ${this.opts.takeoverMs}`)
      this.current = client
    } catch (err) {
      this.session = undefined
      await client.end().catch(() => {})
      throw err
    }
    return client
  }
}

/** The lease of this backend: the process's own (SQLite), or advisory locks (PostgreSQL). */
export function projectionLease (db: DB, takeoverMs: number, log: Logger): ProjectionLease {
  const pgdb = postgresOf(db)
  return pgdb === undefined ? ownLease : new AdvisoryLease({ url: pgdb.url, takeoverMs, log })
}
