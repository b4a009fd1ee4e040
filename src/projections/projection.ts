import type { Transaction } from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Database } from '../schema/database.js'
import type { StoredEvent } from '../store/events.js'

/** A read model: the events it reads, its tables, and how a batch of events changes them. */
export interface Projection {
  /** also the checkpoint's key and the name `npm run rebuild` takes */
  name: string
  stream: string
  /** subject filter inside the stream (one subject: nats-server 2.9 has no multi-filter) */
  filter?: string
  /** bump when apply() changes meaning: the runner then rebuilds from the stream */
  version: number
  /** tables this projection owns, cleared on rebuild */
  tables: (keyof Database)[]
  /** clears its rows on rebuild instead, where it shares a table (the timers) */
  clear?: (trx: Transaction<Database>) => Promise<void>
  /**
   * Applies events in stream order inside the runner's transaction; ignores what it does not
   * read. `sqlite` is the transaction's connection on SQLite, for a hot path's prepared
   * statement; undefined on PostgreSQL.
   */
  apply: (trx: Transaction<Database>, events: StoredEvent[], sqlite: SQLite.Database | undefined) => Promise<void>
  /**
   * Drops the rows built from events its stream no longer holds: the stream's retention aged
   * out everything before `firstSeq` (src/projections/retention.ts). Resolves how many went.
   */
  prune?: (trx: Transaction<Database>, firstSeq: number) => Promise<number>
}
