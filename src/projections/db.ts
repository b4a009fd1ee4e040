import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely'
import { Migrator, type MigrationProvider } from 'kysely/migration'
import type { Database } from '../schema/database.js'
import { migrations } from '../schema/migrations.js'

export type DB = Kysely<Database>

const raws = new WeakMap<DB, SQLite.Database>()

/**
 * The better-sqlite3 connection under a DB: what a hot path prepares its statement on once
 * (a statement run inside a transaction of the DB takes part in it: one connection).
 */
export function rawOf (db: DB): SQLite.Database {
  const raw = raws.get(db)
  if (raw === undefined) throw new Error('not a DB made by openDatabase')
  return raw
}

/** Opens the read-model file in WAL mode and brings its schema up to date. */
export async function openDatabase (file: string): Promise<DB> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL')
  // WAL + NORMAL survives a process crash; the streams, not this file, are the source of truth.
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('cache_size = -65536') // 64 MiB of page cache (the default is 2 MiB)
  // A checkpoint leaves the WAL file at its largest size (11 MiB after 100k events, bench:disk):
  // past 4 MiB it is cut back when the WAL restarts, and every 30 s a TRUNCATE checkpoint empties
  // it. That one waits for no one (busy_timeout 0 for it): busy readers leave it to the next time.
  sqlite.pragma('journal_size_limit = 4194304')
  const checkpoints = file === ':memory:' ? undefined : setInterval(() => { truncateWal(sqlite) }, WAL_CHECKPOINT_MS)
  checkpoints?.unref()
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite, () => { clearInterval(checkpoints) }) }) })
  raws.set(db, sqlite)
  const provider: MigrationProvider = { getMigrations: async () => migrations }
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest()
  if (error !== undefined) {
    await db.destroy()
    const failed = results?.find(r => r.status === 'Error')?.migrationName
    throw new Error(`migration ${failed ?? ''} failed on ${file}: ${String(error)}`)
  }
  return db
}

const CACHED_STATEMENTS = 500
const WAL_CHECKPOINT_MS = 30_000

function truncateWal (sqlite: SQLite.Database): void {
  // a Kysely transaction stays open across awaits: never in the middle of one
  if (!sqlite.open || sqlite.inTransaction) return
  try {
    sqlite.pragma('busy_timeout = 0')
    sqlite.pragma('wal_checkpoint(TRUNCATE)')
  } catch {
    // busy: the next round
  } finally {
    if (sqlite.open) sqlite.pragma('busy_timeout = 5000')
  }
}

/**
 * better-sqlite3 as Kysely's SQLite driver sees it, with each SQL text prepared once: the driver
 * prepares a statement per query, which cost a tenth of the CPU of ingest (profiled) and leaves
 * every statement to the GC. The least recently used of CACHED_STATEMENTS are dropped. Kysely
 * runs one query at a time per connection and this project streams no query, so a cached
 * statement is never busy when it is reused.
 */
function withStatementCache (sqlite: SQLite.Database, onClose: () => void): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close () {
      onClose()
      cache.clear()
      sqlite.close()
    },
    prepare (sql) {
      let stmt = cache.get(sql)
      if (stmt !== undefined) {
        cache.delete(sql) // most recently used goes last
      } else {
        stmt = sqlite.prepare(sql)
        if (cache.size >= CACHED_STATEMENTS) cache.delete(cache.keys().next().value!)
      }
      cache.set(sql, stmt)
      return stmt
    }
  }
}
