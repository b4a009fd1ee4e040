import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { ScheduleRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { expiredBy } from './expiry.js'
import { deleteIn } from './drop.js'
import type { Transaction } from 'kysely'
import type { Database } from '../schema/database.js'

// Schedules (seed 003's EventBridge rules) as rows: the pattern, the task template, the next
// tick and the last one. It reads all of TASKS, so any TASKS Jetway-Seq can be waited for here.

export const schedules: Projection = {
  name: 'schedules',
  stream: 'TASKS',
  version: 1,
  tables: ['schedules'],
  async apply (trx, events) {
    for (const ev of events) {
      if (isEvent(ev, Events.scheduleCreated)) {
        const d = ev.data
        await trx.insertInto('schedules').values({
          schedule_id: d.scheduleId,
          owner: d.owner,
          name: d.name,
          cron: d.cron,
          timezone: d.timezone,
          task: JSON.stringify(d.task),
          created_at: ev.time,
          next_tick: d.nextTick,
          last_tick: null,
          last_task_id: null,
          last_skipped: null,
          deleted: 0,
          version: ev.seq,
          created_seq: ev.seq
        }).onConflict(oc => oc.column('schedule_id').doNothing()).execute()
      } else if (isEvent(ev, Events.scheduleTicked)) {
        const d = ev.data
        await trx.updateTable('schedules').where('schedule_id', '=', d.scheduleId)
          .set({ next_tick: d.nextTick, last_tick: d.tick, last_skipped: d.skipped ? 1 : 0, ...(d.taskId === undefined ? {} : { last_task_id: d.taskId }), version: ev.seq })
          .execute()
      } else if (expiredBy(ev)?.aggregate === 'schedule') {
        // KEEP_FINISHED: a deleted schedule's subject is purged from TASKS; its row goes here
        await dropSchedules(trx, [expiredBy(ev)!.id])
      } else if (isEvent(ev, Events.scheduleDeleted)) {
        await trx.updateTable('schedules').where('schedule_id', '=', ev.data.scheduleId).set({ deleted: 1, next_tick: null, version: ev.seq }).execute()
      }
    }
  }
}

/** Drops schedules (KEEP_FINISHED, an erasure): resolves the rows removed. */
export async function dropSchedules (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => (await trx.deleteFrom('schedules').where('schedule_id', 'in', chunk).executeTakeFirst()).numDeletedRows)
}

export async function findSchedule (db: DB, scheduleId: string): Promise<ScheduleRow | undefined> {
  return await db.selectFrom('schedules').selectAll().where('schedule_id', '=', scheduleId).executeTakeFirst()
}

/** Schedules not deleted, newest first; one page and the cursor of the next. */
export async function listSchedules (db: DB, q: { owner?: string, before?: number, limit: number }): Promise<{ items: ScheduleRow[], next?: number }> {
  let query = db.selectFrom('schedules').selectAll().where('deleted', '=', 0)
  if (q.owner !== undefined) query = query.where('owner', '=', q.owner)
  if (q.before !== undefined) query = query.where('created_seq', '<', q.before)
  const rows = await query.orderBy('created_seq', 'desc').limit(q.limit + 1).execute()
  const items = rows.slice(0, q.limit)
  return { items, next: rows.length > q.limit ? items.at(-1)?.created_seq : undefined }
}

/** Every user id that owns schedules: where an erasure finds the user its keyed hash names. */
export async function scheduleOwnerIds (db: DB): Promise<string[]> {
  return (await db.selectFrom('schedules').select('owner').distinct().execute()).map(r => r.owner)
}

/** The ids of the schedules some users own. */
export async function scheduleIdsOf (db: DB, owners: string[]): Promise<string[]> {
  if (owners.length === 0) return []
  return (await db.selectFrom('schedules').select('schedule_id').where('owner', 'in', owners).execute()).map(r => r.schedule_id)
}
