import type SQLite from 'better-sqlite3'
import type pg from 'pg'

// A user's collected events, one page, read from the collect-events table: the answer of
// GET /api/event/{user}, GET /api/event and POST /api/search, built as JSON text where it is
// read (a read thread, read-pool.ts). Each row's `parameters` is JSON text the projection
// wrote with JSON.stringify (as are an SDK message's `context` and `integrations`), so it goes
// into the answer as it is, neither parsed nor printed again. Only better-sqlite3 is imported
// here: a read thread loads this and nothing else.
// On PostgreSQL the same SQL runs as a named prepared statement over the pool (one per filter
// shape and connection), and the same code builds the text: the answers are the same bytes.

export interface SearchQuery {
  userId: string
  event?: string
  /** inclusive, seed time format */
  from?: string
  /** exclusive, seed time format */
  to?: string
  /** continue after this (event_datetime, seq) */
  after?: PageCursor
  limit: number
}

export interface PageCursor { datetime: string, seq: number }

interface Row {
  seq: number
  event_id: string
  event: string
  user_id: string
  event_datetime: string
  parameters: string | null
  anonymous_id: string | null
  context: string | null
  integrations: string | null
}

/** The search answer as JSON text: {"items": [...], "next_cursor": string | null}. */
export function searchPage (sqlite: SQLite.Database, q: SearchQuery): string {
  return pageOf(statementFor(sqlite, q).all(...paramsOf(q)) as Row[], q)
}

/** The same answer from PostgreSQL. */
export async function searchPagePostgres (pool: pg.Pool, q: SearchQuery): Promise<string> {
  const shape = shapeOf(q)
  let n = 0
  const { rows } = await pool.query<Row>({ name: `collect-search-${shape}`, text: searchSql(q, () => `$${++n}`), values: paramsOf(q) })
  return pageOf(rows, q)
}

function paramsOf (q: SearchQuery): Array<string | number> {
  const params: Array<string | number> = [q.userId]
  if (q.event !== undefined) params.push(q.event)
  if (q.from !== undefined) params.push(q.from)
  if (q.to !== undefined) params.push(q.to)
  if (q.after !== undefined) params.push(q.after.datetime, q.after.seq)
  params.push(q.limit + 1)
  return params
}

function pageOf (rows: Row[], q: SearchQuery): string {
  const page = rows.length > q.limit ? rows.slice(0, q.limit) : rows
  let body = '{"items":['
  for (let i = 0; i < page.length; i++) {
    const r = page[i]!
    if (i > 0) body += ','
    body += `{"event_id":${JSON.stringify(r.event_id)},"event":${JSON.stringify(r.event)},"user_id":${JSON.stringify(r.user_id)},"event_datetime":${JSON.stringify(r.event_datetime)},"parameters":${r.parameters ?? 'null'}`
    // an SDK message's fields, only where it has them: the seed's events answer as they always did
    if (r.anonymous_id !== null) body += `,"anonymous_id":${JSON.stringify(r.anonymous_id)}`
    if (r.context !== null) body += `,"context":${r.context}`
    if (r.integrations !== null) body += `,"integrations":${r.integrations}`
    body += '}'
  }
  const last = page.at(-1)
  const next = rows.length > q.limit && last !== undefined ? JSON.stringify(encodeCursor({ datetime: last.event_datetime, seq: last.seq })) : 'null'
  return `${body}],"next_cursor":${next}}`
}

/** which filters a query has: one statement each (16 at most) */
function shapeOf (q: SearchQuery): string {
  return `${Number(q.event !== undefined)}${Number(q.from !== undefined)}${Number(q.to !== undefined)}${Number(q.after !== undefined)}`
}

/**
 * The table is stored in (user_id, event_datetime, seq) order (migration 0010; on PostgreSQL
 * that is its primary key's index): each shape reads one range of it. `param` writes the
 * placeholders (SQLite's ?, PostgreSQL's $n).
 */
function searchSql (q: SearchQuery, param: () => string): string {
  return `SELECT seq, event_id, event, user_id, event_datetime, parameters, anonymous_id, context, integrations FROM collect_events
      WHERE user_id = ${param()}${q.event !== undefined ? ` AND event = ${param()}` : ''}${q.from !== undefined ? ` AND event_datetime >= ${param()}` : ''}${q.to !== undefined ? ` AND event_datetime < ${param()}` : ''}${q.after !== undefined ? ` AND (event_datetime, seq) > (${param()}, ${param()})` : ''}
      ORDER BY event_datetime, seq LIMIT ${param()}`
}

// One statement per connection and filter shape, prepared once.
const statements = new WeakMap<SQLite.Database, Map<string, SQLite.Statement>>()
function statementFor (sqlite: SQLite.Database, q: SearchQuery): SQLite.Statement {
  const shape = shapeOf(q)
  let byShape = statements.get(sqlite)
  if (byShape === undefined) statements.set(sqlite, byShape = new Map())
  let stmt = byShape.get(shape)
  if (stmt === undefined) {
    // the table is stored in (user_id, event_datetime, seq) order (migration 0010): each shape
    // reads one range of it
    stmt = sqlite.prepare(searchSql(q, () => '?'))
    byShape.set(shape, stmt)
  }
  return stmt
}

export function encodeCursor (at: PageCursor): string {
  return Buffer.from(JSON.stringify([at.datetime, at.seq])).toString('base64url')
}

/** The cursor a page answered, or null for anything else. */
export function decodeCursor (cursor: string): PageCursor | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isSafeInteger(value[1])) {
      return { datetime: value[0], seq: value[1] as number }
    }
  } catch {}
  return null
}
