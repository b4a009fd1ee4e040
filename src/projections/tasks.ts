import { sql } from 'kysely'
import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { TaskCallbackRow, TaskRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { expiredBy } from './expiry.js'
import { deleteIn } from './drop.js'
import type { Transaction } from 'kysely'
import type { Database } from '../schema/database.js'

// Tasks as rows (seed 003's waiting tasks): status, input, output or error/cause, who decided,
// and the times; plus each delivery attempt of a task's outcome to its callbackUrl. It reads
// all of TASKS (no subject filter), so a Jetway-Seq of any TASKS write can be waited for here.

export const tasks: Projection = {
  name: 'tasks',
  stream: 'TASKS',
  version: 1,
  tables: ['tasks', 'task_callbacks'],
  async apply (trx, events) {
    for (const ev of events) {
      if (isEvent(ev, Events.taskCreated)) {
        const d = ev.data
        await trx.insertInto('tasks').values({
          task_id: d.taskId,
          owner: d.owner,
          type: d.type,
          title: d.title,
          status: 'WAITING',
          input: JSON.stringify(d.input),
          output: null,
          error: null,
          cause: null,
          decided_by: null,
          approvers: JSON.stringify(d.approvers),
          created_at: ev.time,
          decided_at: null,
          deadline: d.deadline,
          timeout_seconds: d.timeoutSeconds,
          heartbeat_seconds: d.heartbeatSeconds ?? null,
          heartbeat_deadline: d.heartbeatSeconds === undefined ? null : new Date(Date.parse(ev.time) + d.heartbeatSeconds * 1000).toISOString(),
          last_heartbeat_at: null,
          callback_url: d.callbackUrl ?? null,
          schedule_id: d.schedule?.scheduleId ?? null,
          schedule_tick: d.schedule?.tick ?? null,
          version: ev.seq,
          created_seq: ev.seq
        }).onConflict(oc => oc.column('task_id').doNothing()).execute()
        continue
      }
      const expired = expiredBy(ev)
      if (expired?.aggregate === 'task') {
        // KEEP_FINISHED: the task's subjects are purged from TASKS; its rows go here
        await dropTasks(trx, [expired.id])
        continue
      }
      const taskId = (ev.data as { taskId?: unknown } | null)?.taskId
      if (typeof taskId !== 'string') continue
      const task = trx.updateTable('tasks').where('task_id', '=', taskId)
      if (isEvent(ev, Events.taskHeartbeatReceived)) {
        await task.set({ last_heartbeat_at: ev.time, ...(ev.data.heartbeatDeadline === undefined ? {} : { heartbeat_deadline: ev.data.heartbeatDeadline }), version: ev.seq }).execute()
      } else if (isEvent(ev, Events.taskSucceeded)) {
        await task.set({ status: 'SUCCEEDED', output: JSON.stringify(ev.data.output ?? null), decided_by: JSON.stringify(ev.data.decidedBy), decided_at: ev.time, version: ev.seq }).execute()
      } else if (isEvent(ev, Events.taskFailed)) {
        await task.set({ status: 'FAILED', error: ev.data.error ?? null, cause: ev.data.cause ?? null, decided_by: JSON.stringify(ev.data.decidedBy), decided_at: ev.time, version: ev.seq }).execute()
      } else if (isEvent(ev, Events.taskTimedOut)) {
        await task.set({ status: 'TIMED_OUT', error: ev.data.error, cause: ev.data.cause, decided_by: JSON.stringify({ via: 'timer' }), decided_at: ev.time, version: ev.seq }).execute()
      } else if (isEvent(ev, Events.taskCallbackDelivered)) {
        await trx.insertInto('task_callbacks').values({ task_id: taskId, attempt: ev.data.attempt, outcome: 'delivered', status_code: ev.data.statusCode, error: null, final: 1, at: ev.time })
          .onConflict(oc => oc.columns(['task_id', 'attempt']).doNothing()).execute()
      } else if (isEvent(ev, Events.taskCallbackFailed)) {
        await trx.insertInto('task_callbacks').values({ task_id: taskId, attempt: ev.data.attempt, outcome: 'failed', status_code: ev.data.statusCode ?? null, error: ev.data.error, final: ev.data.final ? 1 : 0, at: ev.time })
          .onConflict(oc => oc.columns(['task_id', 'attempt']).doNothing()).execute()
      }
    }
  }
}

/** Drops tasks and their callback records (KEEP_FINISHED, an erasure): resolves the rows removed. */
export async function dropTasks (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => {
    const callbacks = (await trx.deleteFrom('task_callbacks').where('task_id', 'in', chunk).executeTakeFirst()).numDeletedRows
    return callbacks + (await trx.deleteFrom('tasks').where('task_id', 'in', chunk).executeTakeFirst()).numDeletedRows
  })
}

export async function findTask (db: DB, taskId: string): Promise<TaskRow | undefined> {
  return await db.selectFrom('tasks').selectAll().where('task_id', '=', taskId).executeTakeFirst()
}

export interface TaskQuery {
  /** undefined: everyone's (admin) */
  owner?: string
  status?: string
  type?: string
  /** newest first; continue below this created_seq */
  before?: number
  limit: number
}

/** One page of tasks, newest first, and the cursor of the next page. */
export async function listTasks (db: DB, q: TaskQuery): Promise<{ items: TaskRow[], next?: number }> {
  let query = db.selectFrom('tasks').selectAll()
  if (q.owner !== undefined) query = query.where('owner', '=', q.owner)
  if (q.status !== undefined) query = query.where('status', '=', q.status)
  if (q.type !== undefined) query = query.where('type', '=', q.type)
  if (q.before !== undefined) query = query.where('created_seq', '<', q.before)
  const rows = await query.orderBy('created_seq', 'desc').limit(q.limit + 1).execute()
  const items = rows.slice(0, q.limit)
  return { items, next: rows.length > q.limit ? items.at(-1)?.created_seq : undefined }
}

export async function callbacksOf (db: DB, taskId: string): Promise<TaskCallbackRow[]> {
  return await db.selectFrom('task_callbacks').selectAll().where('task_id', '=', taskId).orderBy('attempt').execute()
}

/** The tasks a schedule created, newest tick first. */
export async function tasksOfSchedule (db: DB, scheduleId: string, limit: number): Promise<TaskRow[]> {
  return await db.selectFrom('tasks').selectAll().where('schedule_id', '=', scheduleId).orderBy(sql`schedule_tick`, 'desc').limit(limit).execute()
}

/** Every user id that owns tasks: where an erasure finds the user its keyed hash names. */
export async function taskOwnerIds (db: DB): Promise<string[]> {
  return (await db.selectFrom('tasks').select('owner').distinct().execute()).map(r => r.owner)
}

/** The ids of the tasks some users own. */
export async function taskIdsOf (db: DB, owners: string[]): Promise<string[]> {
  if (owners.length === 0) return []
  return (await db.selectFrom('tasks').select('task_id').where('owner', 'in', owners).execute()).map(r => r.task_id)
}
