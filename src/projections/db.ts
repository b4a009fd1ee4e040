import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely'
import { Migrator, type MigrationProvider } from 'kysely/migration'
import { isPostgresUrl, type Config } from '../config.js'
import type { Database } from '../schema/database.js'
import { migrations } from '../schema/migrations.js'
import { PostgresColumns } from './dialect.js'

// The read models' database: a SQLite file in DATA_DIR (the embedded default, one per
// instance), or PostgreSQL at READ_MODEL_URL (shared by a fleet). Both are one Kysely
// `Database`; dialect.ts holds where they differ.

export type DB = Kysely<Database>

const raws = new WeakMap<DB, SQLite.Database>()
const pools = new WeakMap<DB, { pool: pg.Pool, url: string }>()

/** Where the read models live: READ_MODEL_URL, else the SQLite file in DATA_DIR. */
export function readModelsOf (config: Pick<Config, 'readModelUrl' | 'dbFile'>): string {
  return config.readModelUrl ?? config.dbFile
}

/**
 * The better-sqlite3 connection under a DB: what a hot path prepares its statement on once
 * (a statement run inside a transaction of the DB takes part in it: one connection).
 */
export function rawOf (db: DB): SQLite.Database {
  const raw = raws.get(db)
  if (raw === undefined) throw new Error('not a SQLite DB made by openDatabase')
  return raw
}

/** The better-sqlite3 connection under a SQLite DB; undefined on PostgreSQL. */
export function sqliteOf (db: DB): SQLite.Database | undefined {
  return raws.get(db)
}

/** The pg pool (and its URL) under a PostgreSQL DB; undefined on SQLite. */
export function postgresOf (db: DB): { pool: pg.Pool, url: string } | undefined {
  return pools.get(db)
}

/**
 * Opens the read models at `location` (a SQLite file path, or a postgres:// URL) and brings
 * their schema up to date.
 */
export async function openDatabase (location: string): Promise<DB> {
  return isPostgresUrl(location) ? await openPostgres(location) : await openSqlite(location)
}

/** Opens the read-model file in WAL mode. */
async function openSqlite (file: string): Promise<DB> {
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
  await migrate(db, db, file)
  return db
}

/** connections per pool (each process opens one per thread that reads or projects) */
const POOL_SIZE = 10
const INT8 = 20

/**
 * PostgreSQL's text cannot hold U+0000 (SQLite's can): a string parameter carrying one, from a
 * read's query string or an event no edge check saw, would fail its query, and an event's
 * would stop its projection for good. Each is sent as U+FFFD instead, as a lone surrogate is
 * stored: a read for it finds what an event with it stored.
 */
function textOf (value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value
  if (Array.isArray(value) && value.some(v => typeof v === 'string' && v.includes('\u0000'))) return value.map(textOf)
  return value
}

class JetwayClient extends pg.Client {
  override query (...args: unknown[]): any {
    const [first, values] = args
    if (Array.isArray(values)) args[1] = values.map(textOf)
    else if (typeof first === 'object' && first !== null && Array.isArray((first as pg.QueryConfig).values)) args[0] = { ...first, values: (first as pg.QueryConfig).values!.map(textOf) }
    return (super.query as (...a: unknown[]) => unknown)(...args)
  }
}

/**
 * A pg pool on `url`, with PostgreSQL's bigint read as a JS number (the columns hold stream
 * sequences and epoch milliseconds, below 2^53; SQLite answers numbers too).
 */
export function postgresPool (url: string, opts: { max?: number, applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    Client: JetwayClient,
    connectionString: url,
    max: opts.max ?? POOL_SIZE,
    application_name: opts.applicationName ?? 'jetway',
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => oid === INT8 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser
    }
  })
  // an idle connection the server closed: the next query opens another (a query in flight fails itself)
  pool.on('error', () => {})
  return pool
}

/** Connects to PostgreSQL (a pool) and migrates; the schema is created on first use. */
async function openPostgres (url: string): Promise<DB> {
  const pool = postgresPool(url)
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool,
      // A commit returns before its WAL reaches the disk (as SQLite's synchronous=NORMAL): rows
      // and checkpoint are lost together in a server crash, and the projection applies them again.
      onCreateConnection: async conn => { await conn.executeQuery(CompiledQuery.raw('SET synchronous_commit = off')) }
    })
  })
  pools.set(db, { pool, url })
  await migrate(db, db.withPlugin(new PostgresColumns()), redacted(url))
  return db
}

async function migrate (db: DB, migrator: Kysely<any>, where: string): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations }
  const { error, results } = await new Migrator({ db: migrator, provider }).migrateToLatest()
  if (error !== undefined) {
    await db.destroy()
    const failed = results?.find(r => r.status === 'Error')?.migrationName
    throw new Error(`${failed === undefined ? 'cannot migrate the read models' : `migration ${failed} failed`} on ${where}: ${String(error)}`)
  }
}

/** A postgres URL without its password, for messages and logs. */
export function redacted (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'READ_MODEL_URL'
  }
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
