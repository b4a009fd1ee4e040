import type { Transaction } from 'kysely'
import type { DB } from './db.js'
import { isEvent, type StoredEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { JobTimeoutPayload, MeetingReminderPayload, ScheduleTickPayload, TaskCallbackPayload, TaskTimerPayload, TimerKind } from '../schema/events/timers.js'
import type { Database, NewTimerRow, TimerRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { deleteIn } from './drop.js'

// The durable timers' read model: one row per armed timer, indexed by due time. Rows are set
// and cleared by the events of the stream they belong to (one projection per stream, each
// owning its rows) and removed by that stream's timer.fired. A row costs no consumer ack slot
// and no memory: the ticker (src/projections/timer-ticker.ts) reads only what is due.

export interface TimerSet {
  /** unique per arming kind and key: a re-armed timer keeps its id, a new set_seq fires it again */
  timerId: string
  kind: TimerKind
  dueAt: number
  payload: Record<string, unknown>
  /** what a later event clears together */
  group: string
}

export type TimerChange = { set: TimerSet } | { clearGroup: string }

export interface TimerRules {
  name: string
  stream: string
  version: number
  changesOf: (ev: StoredEvent) => TimerChange[]
}

export function timerProjection (rules: TimerRules): Projection {
  const { name, stream } = rules
  return {
    name,
    stream,
    version: rules.version,
    tables: [],
    async clear (trx) { await trx.deleteFrom('timers').where('projection', '=', name).execute() },
    async apply (trx, events) {
      // consecutive arms go in as multi-row inserts; a clear or a firing first writes what came before it
      let sets: NewTimerRow[] = []
      const flush = async (): Promise<void> => {
        for (let i = 0; i < sets.length; i += CHUNK) await upsert(trx, sets.slice(i, i + CHUNK))
        sets = []
      }
      for (const ev of events) {
        if (isEvent(ev, Events.timerFired)) {
          await flush()
          await trx.deleteFrom('timers').where('timer_id', '=', ev.data.timerId).where('set_seq', '=', ev.data.setSeq).execute()
          continue
        }
        for (const change of rules.changesOf(ev)) {
          if ('clearGroup' in change) {
            await flush()
            await trx.deleteFrom('timers').where('group_key', '=', change.clearGroup).where('projection', '=', name).execute()
          } else {
            const t = change.set
            sets.push({ timer_id: t.timerId, projection: name, stream, kind: t.kind, due_at: t.dueAt, payload: JSON.stringify(t.payload), group_key: t.group, set_seq: ev.seq })
          }
        }
      }
      await flush()
    },
    // a timer armed by an event the stream no longer holds (only a finished thing's: src/store/retention.ts)
    async prune (trx, firstSeq) {
      return Number((await trx.deleteFrom('timers').where('projection', '=', name).where('set_seq', '<', firstSeq).executeTakeFirst()).numDeletedRows)
    }
  }
}

// 500 rows x 8 columns stays far below SQLite's 32766 bound parameters.
const CHUNK = 500

async function upsert (trx: Transaction<Database>, rows: NewTimerRow[]): Promise<void> {
  // the last arming of a timer id in one statement wins, as it would one by one
  const byId = new Map(rows.map(r => [r.timer_id, r]))
  await trx.insertInto('timers').values([...byId.values()]).onConflict(oc => oc.column('timer_id').doUpdateSet(eb => ({
    kind: eb.ref('excluded.kind'),
    due_at: eb.ref('excluded.due_at'),
    payload: eb.ref('excluded.payload'),
    group_key: eb.ref('excluded.group_key'),
    set_seq: eb.ref('excluded.set_seq')
  }))).execute()
}

/** JOBS: job.requested arms the job's timeout at its deadline; its status clears it. */
export const jobTimerRules: TimerRules = {
  name: 'timers-jobs',
  stream: 'JOBS',
  version: 1,
  changesOf (ev) {
    if (isEvent(ev, Events.jobRequested)) {
      const { eventId, userId, requestedAt, deadline } = ev.data
      const payload: JobTimeoutPayload = { eventId, userId, requestedAt, deadline }
      return [{ set: { timerId: `job-timeout:${eventId}`, kind: 'job-timeout', dueAt: Date.parse(deadline), payload, group: `job:${eventId}` } }]
    }
    if (isEvent(ev, Events.jobStatusChanged)) return [{ clearGroup: `job:${ev.data.eventId}` }]
    return []
  }
}
export const jobTimers = timerProjection(jobTimerRules)

/**
 * MEETINGS: scheduling (or moving) a meeting arms one reminder `leadMs` before its start;
 * moving it re-arms, cancelling clears. A meeting inside the lead window is due at once.
 */
export function meetingTimerRules (leadMs: number): TimerRules {
  return {
    name: 'timers-meetings',
    stream: 'MEETINGS',
    version: 1,
    changesOf (ev) {
      if (isEvent(ev, Events.meetingScheduled) || isEvent(ev, Events.meetingRescheduled)) {
        const { meetingId, startsAt, endsAt } = ev.data
        const payload: MeetingReminderPayload = { meetingId, startsAt, endsAt }
        const group = `meeting:${meetingId}`
        return [
          { clearGroup: group },
          { set: { timerId: `meeting-reminder:${meetingId}:${new Date(startsAt).toISOString()}`, kind: 'meeting-reminder', dueAt: Date.parse(startsAt) - leadMs, payload, group } }
        ]
      }
      if (isEvent(ev, Events.meetingCancelled)) return [{ clearGroup: `meeting:${ev.data.meetingId}` }]
      return []
    }
  }
}
export const meetingTimers = (leadMs: number): Projection => timerProjection(meetingTimerRules(leadMs))

/** Drops the timers of some groups (what an erasure removed): resolves the rows removed. */
export async function dropTimerGroups (trx: Transaction<Database>, groups: string[]): Promise<number> {
  return await deleteIn(groups, async chunk => (await trx.deleteFrom('timers').where('group_key', 'in', chunk).executeTakeFirst()).numDeletedRows)
}

/** Timers due at `now`, earliest first; of the given timer projections only, when given. */
export async function dueTimers (db: DB, now: number, limit: number, projections?: string[]): Promise<TimerRow[]> {
  let query = db.selectFrom('timers').selectAll().where('due_at', '<=', now)
  if (projections !== undefined) {
    if (projections.length === 0) return []
    query = query.where('projection', 'in', projections)
  }
  return await query.orderBy('due_at').limit(limit).execute()
}

/** Timers whose time has come and that are not fired yet: the ticker's backlog. */
export async function countDueTimers (db: DB, now: number): Promise<number> {
  const row = await db.selectFrom('timers').select(eb => eb.fn.countAll<number>().as('n')).where('due_at', '<=', now).executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function countTimers (db: DB): Promise<number> {
  const row = await db.selectFrom('timers').select(eb => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

/**
 * TASKS: task.created arms the task's hard cap (task-timeout, at its deadline) and, with
 * heartbeatSeconds, its heartbeat deadline (task-heartbeat), which each heartbeat re-arms under
 * the same id; an outcome clears both. A schedule's next tick (schedule-tick) is armed by
 * schedule.created and by each schedule.ticked; schedule.deleted clears it. An outcome of a
 * task with a callbackUrl arms the first delivery attempt (task-callback, due at once); a failed
 * attempt arms the next at its retryAt.
 */
export const taskTimerRules: TimerRules = {
  name: 'timers-tasks',
  stream: 'TASKS',
  version: 1,
  changesOf (ev) {
    if (isEvent(ev, Events.taskCreated)) {
      const { taskId, deadline, heartbeatSeconds } = ev.data
      const payload: TaskTimerPayload = { taskId }
      const group = `task:${taskId}`
      return [
        { set: { timerId: `task-timeout:${taskId}`, kind: 'task-timeout', dueAt: Date.parse(deadline), payload, group } },
        ...(heartbeatSeconds === undefined
          ? []
          : [{ set: { timerId: `task-heartbeat:${taskId}`, kind: 'task-heartbeat' as const, dueAt: Date.parse(ev.time) + heartbeatSeconds * 1000, payload, group } }])
      ]
    }
    if (isEvent(ev, Events.taskHeartbeatReceived)) {
      const { taskId, heartbeatDeadline } = ev.data
      if (heartbeatDeadline === undefined) return []
      const payload: TaskTimerPayload = { taskId }
      return [{ set: { timerId: `task-heartbeat:${taskId}`, kind: 'task-heartbeat', dueAt: Date.parse(heartbeatDeadline), payload, group: `task:${taskId}` } }]
    }
    if (isEvent(ev, Events.taskSucceeded) || isEvent(ev, Events.taskFailed) || isEvent(ev, Events.taskTimedOut)) {
      const { taskId, callbackUrl } = ev.data
      const payload: TaskCallbackPayload = { taskId, attempt: 1 }
      return [
        { clearGroup: `task:${taskId}` },
        ...(callbackUrl === undefined ? [] : [{ set: { timerId: `task-callback:${taskId}`, kind: 'task-callback' as const, dueAt: Date.parse(ev.time), payload, group: `callback:${taskId}` } }])
      ]
    }
    if (isEvent(ev, Events.scheduleCreated) || isEvent(ev, Events.scheduleTicked)) {
      const { scheduleId, nextTick } = ev.data
      const group = `schedule:${scheduleId}`
      if (nextTick === null) return [{ clearGroup: group }]
      const payload: ScheduleTickPayload = { scheduleId, tick: nextTick }
      return [{ set: { timerId: `schedule-tick:${scheduleId}`, kind: 'schedule-tick', dueAt: Date.parse(nextTick), payload, group } }]
    }
    if (isEvent(ev, Events.scheduleDeleted)) return [{ clearGroup: `schedule:${ev.data.scheduleId}` }]
    if (isEvent(ev, Events.taskCallbackFailed) && !ev.data.final && ev.data.retryAt !== undefined) {
      const { taskId, attempt, retryAt } = ev.data
      const payload: TaskCallbackPayload = { taskId, attempt: attempt + 1 }
      return [{ set: { timerId: `task-callback:${taskId}`, kind: 'task-callback', dueAt: Date.parse(retryAt), payload, group: `callback:${taskId}` } }]
    }
    if (isEvent(ev, Events.taskCallbackDelivered) || isEvent(ev, Events.taskCallbackFailed)) return [{ clearGroup: `callback:${ev.data.taskId}` }]
    return []
  }
}
export const taskTimers = timerProjection(taskTimerRules)
