import type { Kysely, Transaction } from 'kysely'
import { Events } from '../schema/events/index.js'
import type { Database, NewCollectEventRow } from '../schema/database.js'
import { isEvent } from '../store/events.js'
import { insertCollectEvents } from './dialect.js'
import type { Projection } from './projection.js'

// Read model of seed 002's RDS table: one row per (user_id, event_id), forever (a later
// duplicate, outside the stream's duplicate window, is ignored here). Two users may use the
// same event_id. v1 events come from /api/collect, v2 from the analytics SDKs' /v1/* routes,
// whose anonymousId, context and integrations fill three more columns. Searches:
// collect-search.ts. Beside it, the events collected per minute and event name over the last
// two hours (collect_minutes), for the console's chart.

/** Minutes of counts kept: the chart shows one hour; the rest is slack for a lagging read. */
export const MINUTES_KEPT = 120

export const collectEvents: Projection = {
  name: 'collect-events',
  stream: 'COLLECT',
  // 2: unique per (user_id, event_id), no longer per event_id; the replay restores the events
  // of a user whose event_id another user had used first
  version: 2,
  tables: ['collect_events', 'collect_minutes'],
  // the hot path of ingest and catch-up: how each backend inserts a batch fastest is in dialect.ts
  async apply (trx, events, sqlite) {
    const rows: NewCollectEventRow[] = []
    for (const ev of events) {
      let d, sdk
      if (isEvent(ev, Events.collectEventReceived)) d = ev.data
      else if (isEvent(ev, Events.collectEventReceivedV2)) d = sdk = ev.data
      else continue
      rows.push({
        seq: ev.seq,
        event_id: d.event_id,
        user_id: d.user_id,
        event: d.event,
        event_datetime: d.event_datetime,
        parameters: d.parameters === null ? null : JSON.stringify(d.parameters),
        received_at: d.received_at,
        anonymous_id: sdk?.anonymous_id ?? null,
        context: sdk?.context == null ? null : JSON.stringify(sdk.context),
        integrations: sdk?.integrations == null ? null : JSON.stringify(sdk.integrations)
      })
    }
    const perMinute = new Map<string, number>()
    for (const r of await insertCollectEvents(trx, rows, sqlite)) {
      // JSON text of [minute, event]: no separator that an event name could hold
      const key = JSON.stringify([r.received_at.slice(0, 16), r.event])
      perMinute.set(key, (perMinute.get(key) ?? 0) + 1)
    }
    if (perMinute.size > 0) await countMinutes(trx, perMinute)
  },
  async prune (trx, firstSeq) {
    return Number((await trx.deleteFrom('collect_events').where('seq', '<', firstSeq).executeTakeFirst()).numDeletedRows)
  }
}

/**
 * Adds a batch's counts (one upsert per minute and event, a handful a batch) and drops the
 * minutes older than MINUTES_KEPT before the newest one counted, so the table stays small
 * whatever the stream holds; both in the batch's transaction, in portable SQL.
 */
async function countMinutes (trx: Transaction<Database>, perMinute: Map<string, number>): Promise<void> {
  const rows = [...perMinute].map(([key, count]) => {
    const [minute, event] = JSON.parse(key) as [string, string]
    return { minute, event, count }
  })
  await trx.insertInto('collect_minutes').values(rows)
    .onConflict(oc => oc.columns(['minute', 'event']).doUpdateSet(eb => ({ count: eb('collect_minutes.count', '+', eb.ref('excluded.count')) })))
    .execute()
  const newest = rows.reduce((max, r) => r.minute > max ? r.minute : max, '')
  const cutoff = new Date(Date.parse(`${newest}:00Z`) - MINUTES_KEPT * 60_000).toISOString().slice(0, 16)
  await trx.deleteFrom('collect_minutes').where('minute', '<', cutoff).execute()
}

export interface MinuteCount { minute: string, event: string, count: number }

/** The counts of the minutes from `since` (YYYY-MM-DDTHH:MM) on. */
export async function collectedPerMinute (db: Kysely<Database>, since: string): Promise<MinuteCount[]> {
  return await db.selectFrom('collect_minutes').select(['minute', 'event', 'count']).where('minute', '>=', since).orderBy('minute').execute()
}

/** Every user id with collected events: where an erasure finds the user its keyed hash names. */
export async function collectUserIds (db: Kysely<Database> | Transaction<Database>): Promise<string[]> {
  return (await db.selectFrom('collect_events').select('user_id').distinct().execute()).map(r => r.user_id)
}

/** Drops a user's collected events up to a COLLECT sequence (an erasure): resolves the rows removed. */
export async function dropUserEvents (trx: Transaction<Database>, userId: string, upToSeq: number): Promise<number> {
  return Number((await trx.deleteFrom('collect_events').where('user_id', '=', userId).where('seq', '<=', upToSeq).executeTakeFirst()).numDeletedRows)
}
