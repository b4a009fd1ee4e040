import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { Migrator, type MigrationProvider } from 'kysely/migration'
import type { Database } from '../schema/database.js'
import { migrations } from '../schema/migrations.js'

export type DB = Kysely<Database>

/** Opens the read-model file in WAL mode and brings its schema up to date. */
export async function openDatabase (file: string): Promise<DB> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL')
  // WAL + NORMAL survives a process crash; the streams, not this file, are the source of truth.
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('cache_size = -65536') // 64 MiB of page cache (the default is 2 MiB)
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  const provider: MigrationProvider = { getMigrations: async () => migrations }
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest()
  if (error !== undefined) {
    await db.destroy()
    const failed = results?.find(r => r.status === 'Error')?.migrationName
    throw new Error(`migration ${failed ?? ''} failed on ${file}: ${String(error)}`)
  }
  return db
}
