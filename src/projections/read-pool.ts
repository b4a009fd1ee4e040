import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { searchPage, searchPagePostgres, type SearchQuery } from './collect-search.js'
import { postgresOf, rawOf, type DB } from './db.js'
import type { ReadTask } from './read-thread.js'

// Searches run in a pool of read threads (READ_THREADS, piscina), each with its own read-only
// SQLite connection, and answer JSON text: the HTTP thread neither runs the SQL nor builds
// the rows' JSON. With READ_THREADS=0 (the default up to 2 cores) they run on the HTTP
// thread's connection: a page costs it ~0.15 ms there, less than two hops between threads
// that compete for the same two cores. On PostgreSQL the server runs the SQL: searches go
// through the pool from this thread, and no read thread starts.

const THREAD_FILE = fileURLToPath(new URL('./read-thread.ts', import.meta.url))
/** a thread idle this long ends; the next search starts one again */
const IDLE_MS = 60_000

export class ReadPool {
  private readonly pool: Piscina<ReadTask, string> | undefined

  constructor (private readonly db: DB, private readonly file: string, threads: number) {
    this.pool = threads > 0 && file !== ':memory:' && postgresOf(db) === undefined
      ? new Piscina({ filename: THREAD_FILE, name: 'default', minThreads: 0, maxThreads: threads, idleTimeout: IDLE_MS })
      : undefined
  }

  /** how many threads may run searches (0: they run on this thread) */
  get threads (): number { return this.pool?.options.maxThreads ?? 0 }

  /** searches the read threads have answered */
  get answeredInThreads (): number { return this.pool?.completed ?? 0 }

  async search (query: SearchQuery): Promise<string> {
    const postgres = postgresOf(this.db)
    if (postgres !== undefined) return await searchPagePostgres(postgres.pool, query)
    if (this.pool === undefined) return searchPage(rawOf(this.db), query)
    return await this.pool.run({ file: this.file, query })
  }

  async close (): Promise<void> {
    await this.pool?.close({ force: true })
  }
}
