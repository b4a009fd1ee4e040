import {
  ColumnDefinitionNode, DataTypeNode, OperationNodeTransformer, PostgresAdapter, RawNode, sql,
  type Kysely, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs,
  type QueryResult, type RawBuilder, type RootOperationNode, type UnknownRow
} from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Database, NewCollectEventRow } from '../schema/database.js'

// Where the two read-model backends differ, in one place: SQLite (the embedded default) and
// PostgreSQL (READ_MODEL_URL, a fleet's shared read side). Everything else (the migrations'
// tables, every projection's writes, every query) is the same Kysely code on both, and answers
// the same bytes on both. The differences:
// - column types: SQLite's `integer` is 64-bit, PostgreSQL's is 32-bit (epoch-ms due times and
//   stream sequences need `bigint`); text compares as bytes in SQLite, by the database's locale
//   in PostgreSQL unless the column says `COLLATE "C"` (then orders, ranges and indexes agree);
// - insertion order: SQLite's implicit `rowid`, a `rowid` identity column on PostgreSQL
//   (migration 0013);
// - JSON built in SQL (a meeting's participants);
// - the collector's hot paths (collect-events.ts, collect-search.ts): prepared better-sqlite3
//   statements on SQLite; one `unnest` insert per batch and named prepared statements over
//   the pool on PostgreSQL.

export type Backend = 'sqlite' | 'postgres'

export function backendOf (db: Kysely<any>): Backend {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite'
}

/**
 * The migrations' column types as PostgreSQL needs them to mean what they mean on SQLite:
 * `integer` becomes `bigint`, `text` becomes `text COLLATE "C"` (byte order, as SQLite's
 * BINARY). Used on the migrator's connection only; the migrations stay as written.
 */
export class PostgresColumns implements KyselyPlugin {
  private readonly transformer = new ColumnTypes()
  transformQuery (args: PluginTransformQueryArgs): RootOperationNode {
    return this.transformer.transformNode(args.node, args.queryId)
  }

  async transformResult (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }
}

class ColumnTypes extends OperationNodeTransformer {
  protected override transformColumnDefinition (node: ColumnDefinitionNode): ColumnDefinitionNode {
    const column = super.transformColumnDefinition(node)
    if (!DataTypeNode.is(column.dataType)) return column
    if (column.dataType.dataType === 'integer') return Object.freeze({ ...column, dataType: DataTypeNode.create('bigint') })
    if (column.dataType.dataType === 'text') return ColumnDefinitionNode.cloneWithFrontModifier(column, RawNode.createWithSql('collate "C"'))
    return column
  }
}

/**
 * A JSON array (as text) with one object per row of `table` where `where` holds, in `orderBy`
 * order; '[]' for none. `fields` name the objects' keys, which are the table's columns.
 */
export function jsonRows (db: Kysely<any>, table: string, fields: string[], where: RawBuilder<unknown>, orderBy: string): RawBuilder<string> {
  const object = sql.join(fields.map(f => sql`${sql.lit(f)}, ${sql.ref(f)}`))
  if (backendOf(db) === 'postgres') {
    return sql<string>`(SELECT coalesce(json_agg(json_build_object(${object}) ORDER BY ${sql.ref(orderBy)}), '[]')::text FROM ${sql.table(table)} WHERE ${where})`
  }
  return sql<string>`(SELECT json_group_array(json_object(${object})) FROM (SELECT ${sql.join(fields.map(f => sql.ref(f)))} FROM ${sql.table(table)} WHERE ${where} ORDER BY ${sql.ref(orderBy)}))`
}

/**
 * Inserts collected events in order, keeping the first of a (user_id, event_id); answers the
 * rows it inserted (a duplicate is not counted anywhere). The hot path of ingest and catch-up.
 * SQLite: one prepared statement per connection, run per row (Kysely built and compiled a
 * 1000-row insert per batch: replay of 1M events 25.8k -> 29.6k/s). PostgreSQL: one statement
 * per batch, its rows as one array per column (unnest): one round trip and one small statement
 * to parse, however many rows.
 */
export async function insertCollectEvents (trx: Kysely<Database>, rows: NewCollectEventRow[], sqlite: SQLite.Database | undefined): Promise<Array<Pick<NewCollectEventRow, 'event' | 'received_at'>>> {
  if (rows.length === 0) return []
  if (sqlite !== undefined) {
    const insert = collectInsertOn(sqlite)
    const inserted: NewCollectEventRow[] = []
    for (const r of rows) {
      if (insert.run(r.seq, r.event_id, r.user_id, r.event, r.event_datetime, r.parameters, r.received_at, r.anonymous_id ?? null, r.context ?? null, r.integrations ?? null).changes > 0) inserted.push(r)
    }
    return inserted
  }
  const column = <K extends keyof NewCollectEventRow>(key: K): Array<NewCollectEventRow[K] | null> => rows.map(r => r[key] ?? null)
  const { rows: inserted } = await sql<Pick<NewCollectEventRow, 'event' | 'received_at'>>`INSERT INTO collect_events (seq, event_id, user_id, event, event_datetime, parameters, received_at, anonymous_id, context, integrations)
    SELECT * FROM unnest(${column('seq')}::bigint[], ${column('event_id')}::text[], ${column('user_id')}::text[], ${column('event')}::text[],
      ${column('event_datetime')}::text[], ${column('parameters')}::text[], ${column('received_at')}::text[],
      ${column('anonymous_id')}::text[], ${column('context')}::text[], ${column('integrations')}::text[])
    ON CONFLICT (user_id, event_id) DO NOTHING
    RETURNING event, received_at`.execute(trx)
  return inserted
}

const collectInserts = new WeakMap<SQLite.Database, SQLite.Statement>()
function collectInsertOn (sqlite: SQLite.Database): SQLite.Statement {
  let insert = collectInserts.get(sqlite)
  if (insert === undefined) {
    insert = sqlite.prepare(`INSERT INTO collect_events (seq, event_id, user_id, event, event_datetime, parameters, received_at, anonymous_id, context, integrations)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, event_id) DO NOTHING`)
    collectInserts.set(sqlite, insert)
  }
  return insert
}
