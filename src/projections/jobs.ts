import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { JobRow, NewJobRow } from '../schema/database.js'
import type { Projection } from './projection.js'

// The jobs of seed 000: its Redis record (userId, eventType per eventId) plus the status.

export const jobs: Projection = {
  name: 'jobs',
  stream: 'JOBS',
  version: 1,
  tables: ['jobs'],
  async apply (trx, events) {
    // consecutive requests go in as multi-row inserts; a status first writes the requests before it
    let requested: NewJobRow[] = []
    const flush = async (): Promise<void> => {
      for (let i = 0; i < requested.length; i += CHUNK) {
        await trx.insertInto('jobs').values(requested.slice(i, i + CHUNK)).onConflict(oc => oc.column('event_id').doNothing()).execute()
      }
      requested = []
    }
    for (const ev of events) {
      if (isEvent(ev, Events.jobRequested)) {
        const j = ev.data
        requested.push({
          event_id: j.eventId,
          user_id: j.userId,
          event_type: j.eventType,
          status: 'PENDING',
          event_desc: '',
          requested_at: j.requestedAt,
          deadline: j.deadline,
          completed_at: null,
          status_seq: null
        })
      } else if (isEvent(ev, Events.jobStatusChanged)) {
        await flush()
        const s = ev.data
        await trx.updateTable('jobs')
          .set({ status: s.eventStatus, event_desc: s.eventDesc, completed_at: ev.time, status_seq: ev.seq })
          .where('event_id', '=', s.eventId).where('status_seq', 'is', null)
          .execute()
      }
    }
    await flush()
  }
}

// 500 rows x 9 columns stays far below SQLite's 32766 bound parameters.
const CHUNK = 500

export async function findJob (db: DB, eventId: string): Promise<JobRow | undefined> {
  return await db.selectFrom('jobs').selectAll().where('event_id', '=', eventId).executeTakeFirst()
}
