import type SQLite from 'better-sqlite3'

// A user's collected events, one page, read from the collect-events table: the answer of
// GET /api/event/{user}, GET /api/event and POST /api/search, built as JSON text where it is
// read (a read thread, read-pool.ts). Each row's `parameters` is JSON text the projection
// wrote with JSON.stringify (as are an SDK message's `context` and `integrations`), so it goes
// into the answer as it is, neither parsed nor printed again. Only better-sqlite3 is imported
// here: a read thread loads this and nothing else.

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
  const params: Array<string | number> = [q.userId]
  if (q.event !== undefined) params.push(q.event)
  if (q.from !== undefined) params.push(q.from)
  if (q.to !== undefined) params.push(q.to)
  if (q.after !== undefined) params.push(q.after.datetime, q.after.seq)
  params.push(q.limit + 1)
  const rows = statementFor(sqlite, q).all(...params) as Row[]
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

// One statement per connection and filter shape (16 at most), prepared once.
const statements = new WeakMap<SQLite.Database, Map<string, SQLite.Statement>>()
function statementFor (sqlite: SQLite.Database, q: SearchQuery): SQLite.Statement {
  const shape = `${Number(q.event !== undefined)}${Number(q.from !== undefined)}${Number(q.to !== undefined)}${Number(q.after !== undefined)}`
  let byShape = statements.get(sqlite)
  if (byShape === undefined) statements.set(sqlite, byShape = new Map())
  let stmt = byShape.get(shape)
  if (stmt === undefined) {
    // the table is stored in (user_id, event_datetime, seq) order (migration 0010): each shape
    // reads one range of it
    stmt = sqlite.prepare(`SELECT seq, event_id, event, user_id, event_datetime, parameters, anonymous_id, context, integrations FROM collect_events
      WHERE user_id = ?${q.event !== undefined ? ' AND event = ?' : ''}${q.from !== undefined ? ' AND event_datetime >= ?' : ''}${q.to !== undefined ? ' AND event_datetime < ?' : ''}${q.after !== undefined ? ' AND (event_datetime, seq) > (?, ?)' : ''}
      ORDER BY event_datetime, seq LIMIT ?`)
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
