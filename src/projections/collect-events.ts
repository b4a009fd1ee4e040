import { Events } from '../schema/events/index.js'
import type { NewCollectEventRow } from '../schema/database.js'
import { isEvent } from '../store/events.js'
import { insertCollectEvents } from './dialect.js'
import type { Projection } from './projection.js'

// Read model of seed 002's RDS table: one row per (user_id, event_id), forever (a later
// duplicate, outside the stream's duplicate window, is ignored here). Two users may use the
// same event_id. Searches: collect-search.ts.

export const collectEvents: Projection = {
  name: 'collect-events',
  stream: 'COLLECT',
  // 2: unique per (user_id, event_id), no longer per event_id; the replay restores the events
  // of a user whose event_id another user had used first
  version: 2,
  tables: ['collect_events'],
  // the hot path of ingest and catch-up: how each backend inserts a batch fastest is in dialect.ts
  async apply (trx, events, sqlite) {
    const rows: NewCollectEventRow[] = []
    for (const ev of events) {
      if (!isEvent(ev, Events.collectEventReceived)) continue
      const d = ev.data
      rows.push({ seq: ev.seq, event_id: d.event_id, user_id: d.user_id, event: d.event, event_datetime: d.event_datetime, parameters: d.parameters === null ? null : JSON.stringify(d.parameters), received_at: d.received_at })
    }
    await insertCollectEvents(trx, rows, sqlite)
  }
}
