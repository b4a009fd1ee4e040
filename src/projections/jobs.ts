import { sql } from 'kysely'
import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { JobRow, NewJobRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { expiredBy } from './expiry.js'
import { deleteIn } from './drop.js'
import type { Transaction } from 'kysely'
import type { Database } from '../schema/database.js'

// The jobs of seed 000: its Redis record (userId, eventType per eventId) plus the status.

export const jobs: Projection = {
  name: 'jobs',
  stream: 'JOBS',
  // 2: requested_seq, by which the row follows JOBS's retention
  version: 2,
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
          status_seq: null,
          requested_seq: ev.seq
        })
      } else if (expiredBy(ev)?.aggregate === 'job') {
        // KEEP_FINISHED: the job's subjects are purged from JOBS; its row goes here
        await flush()
        await dropJobs(trx, [expiredBy(ev)!.id])
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
  },
  async prune (trx, firstSeq) {
    return Number((await trx.deleteFrom('jobs').where('requested_seq', '<', firstSeq).executeTakeFirst()).numDeletedRows)
  }
}

// 500 rows x 10 columns stays far below SQLite's 32766 bound parameters.
const CHUNK = 500

/** Drops jobs (KEEP_FINISHED, an erasure): resolves the rows removed. */
export async function dropJobs (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => (await trx.deleteFrom('jobs').where('event_id', 'in', chunk).executeTakeFirst()).numDeletedRows)
}

export async function findJob (db: DB, eventId: string): Promise<JobRow | undefined> {
  return await db.selectFrom('jobs').selectAll().where('event_id', '=', eventId).executeTakeFirst()
}

/** One page of jobs, newest first (by insertion: the JOBS order), and the cursor of the next page. */
export async function listJobs (db: DB, q: { userId?: string, status?: string, before?: number, limit: number }): Promise<{ items: JobRow[], next?: number }> {
  let query = db.selectFrom('jobs').select(sql<number>`rowid`.as('row')).selectAll()
  if (q.userId !== undefined) query = query.where('user_id', '=', q.userId)
  if (q.status !== undefined) query = query.where('status', '=', q.status)
  if (q.before !== undefined) query = query.where(sql<number>`rowid`, '<', q.before)
  const rows = await query.orderBy(sql`rowid`, 'desc').limit(q.limit + 1).execute()
  const items = rows.slice(0, q.limit)
  return { items, next: rows.length > q.limit ? items.at(-1)?.row : undefined }
}

/** A job as the API shows it: the seed's record plus its status. */
export function jobViewOf (job: JobRow): { eventId: string, userId: string, eventType: string, status: 'PENDING' | 'Y' | 'N', eventStatus: 'Y' | 'N' | null, eventDesc: string, requestedAt: string, deadline: string, completedAt: string | null } {
  return {
    eventId: job.event_id,
    userId: job.user_id,
    eventType: job.event_type,
    status: job.status as 'PENDING' | 'Y' | 'N',
    eventStatus: job.status === 'PENDING' ? null : job.status as 'Y' | 'N',
    eventDesc: job.event_desc,
    requestedAt: job.requested_at,
    deadline: job.deadline,
    completedAt: job.completed_at
  }
}

/** Every user id with jobs: where an erasure finds the user its keyed hash names. */
export async function jobUserIds (db: DB): Promise<string[]> {
  return (await db.selectFrom('jobs').select('user_id').distinct().execute()).map(r => r.user_id)
}

/** The ids of some users' jobs. */
export async function jobIdsOf (db: DB, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return []
  return (await db.selectFrom('jobs').select('event_id').where('user_id', 'in', userIds).execute()).map(r => r.event_id)
}
