import type { Transaction } from 'kysely'
import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { ErasedKind } from '../schema/events/erasures.js'
import type { Database, ErasureRow } from '../schema/database.js'
import type { UserKeys } from '../lib/erasure-key.js'
import type { Projection } from './projection.js'
import { collectUserIds, dropUserEvents } from './collect-events.js'
import { dropJobs } from './jobs.js'
import { dropMeetings } from './meetings.js'
import { dropTasks } from './tasks.js'
import { dropSchedules } from './schedules.js'
import { dropNotifications } from './notifications.js'
import { dropTimerGroups } from './timers.js'
import { subjectsOfUser, type StreamSubject, type UserRecords } from '../store/purge.js'

// The erasures of users (stream ERASURES) as rows, and what they do to this instance's read
// models. erasure.removed drops the records it names (by id) from every read model here;
// erasure.completed drops the user's collected events up to its COLLECT cutoff (the user found
// by the keyed hash among the user ids the table holds) and marks the erasure done; a
// suppression is kept until lifted. Each instance applies them to its own read models, in
// stream order, so a second instance, a rebuild or a restart with an empty DATA_DIR drops the
// same rows (and finds nothing, the streams being purged).

/** The read models an erasure removes rows from, and how, by kind. */
async function dropErased (trx: Transaction<Database>, kind: ErasedKind, ids: string[]): Promise<Record<string, number>> {
  const groups = (...prefixes: string[]): string[] => ids.flatMap(id => prefixes.map(p => `${p}${id}`))
  switch (kind) {
    case 'job':
      return { jobs: await dropJobs(trx, ids), 'timers-jobs': await dropTimerGroups(trx, groups('job:', 'expiry:job:')) }
    case 'meeting':
      return { meetings: await dropMeetings(trx, ids), 'timers-meetings': await dropTimerGroups(trx, groups('meeting:', 'expiry:meeting:')) }
    case 'task':
      return { tasks: await dropTasks(trx, ids), 'timers-tasks': await dropTimerGroups(trx, groups('task:', 'callback:', 'expiry:task:')) }
    case 'schedule':
      return { schedules: await dropSchedules(trx, ids), 'timers-tasks': await dropTimerGroups(trx, groups('schedule:', 'expiry:schedule:')) }
    case 'notification':
      return { notifications: await dropNotifications(trx, ids) }
  }
}

/**
 * A user's collected events up to `upToSeq`, the user found by its key among the user ids the
 * table holds: resolves the rows removed and the user ids that had some.
 */
async function dropCollected (trx: Transaction<Database>, keys: UserKeys, userKey: string, upToSeq: number): Promise<{ rows: number, userIds: string[] }> {
  let rows = 0
  const userIds: string[] = []
  for (const userId of await collectUserIds(trx)) {
    if (keys.of(userId) !== userKey) continue
    const n = await dropUserEvents(trx, userId, upToSeq)
    rows += n
    if (n > 0) userIds.push(userId)
  }
  return { rows, userIds }
}

const NONE: UserRecords['ids'] = { job: [], meeting: [], task: [], schedule: [], notification: [] }

/** Notes subjects to purge again (src/projections/erasure-enforcer.ts purges them); `upTo`: the erasure's cutoffs. */
async function notePurges (trx: Transaction<Database>, erasureId: string, subjects: StreamSubject[], upTo?: Record<string, number>): Promise<void> {
  for (const { stream, filter } of subjects) {
    await trx.insertInto('erasure_purges').values({ erasure_id: erasureId, stream, filter, up_to_seq: upTo?.[stream] ?? null })
      .onConflict(oc => oc.doNothing()).execute()
  }
}

/**
 * Drops the rows of records an erasure removed (by id) from this instance's read models. Rows
 * found mean the stream held those records when they were applied here (before the erasure ran,
 * or again after a restore of an older backup): their subjects are noted to be purged again.
 */
export async function dropErasedRecords (trx: Transaction<Database>, erasureId: string, kind: ErasedKind, ids: string[]): Promise<Record<string, number>> {
  const removed = await dropErased(trx, kind, ids)
  if (Object.values(removed).some(n => n > 0)) await notePurges(trx, erasureId, subjectsOfUser({ userIds: [], ids: { ...NONE, [kind]: ids } }).whole)
  return removed
}

/** Drops an erased user's collected events up to the erasure's COLLECT cutoff, noting the user's subjects to purge again. */
export async function dropErasedEvents (trx: Transaction<Database>, keys: UserKeys, erasureId: string, userKey: string, cutoffs: Record<string, number>): Promise<number> {
  const { rows, userIds } = await dropCollected(trx, keys, userKey, cutoffs.COLLECT ?? 0)
  if (userIds.length > 0) await notePurges(trx, erasureId, subjectsOfUser({ userIds, ids: NONE }).upToCutoff, cutoffs)
  return rows
}

function add (into: Record<string, number>, more: Record<string, number>): Record<string, number> {
  const out = { ...into }
  for (const [k, v] of Object.entries(more)) if (v > 0 || out[k] === undefined) out[k] = (out[k] ?? 0) + v
  return out
}

/** The erasures read model; `keys` hashes user ids (src/lib/erasure-key.ts), needed where events are applied. */
export function erasures (keys: UserKeys | undefined): Projection {
  return {
    name: 'erasures',
    stream: 'ERASURES',
    version: 1,
    tables: ['erasures', 'erasure_items', 'erasure_purges', 'suppressions'],
    async apply (trx, events) {
      const removedSoFar = async (erasureId: string): Promise<Record<string, number> | undefined> => {
        const row = await trx.selectFrom('erasures').select('removed_read_models').where('erasure_id', '=', erasureId).executeTakeFirst()
        return row === undefined ? undefined : JSON.parse(row.removed_read_models) as Record<string, number>
      }
      for (const ev of events) {
        if (isEvent(ev, Events.erasureRequested)) {
          const e = ev.data
          await trx.insertInto('erasures').values({
            erasure_id: e.erasureId,
            user_key: e.userKey,
            suppress: e.suppress ? 1 : 0,
            status: 'pending',
            requested_at: e.requestedAt,
            completed_at: null,
            cutoffs: null,
            removed_streams: null,
            removed_read_models: '{}',
            version: ev.seq
          }).onConflict(oc => oc.column('erasure_id').doNothing()).execute()
          if (e.suppress) {
            await trx.insertInto('suppressions').values({ user_key: e.userKey, erasure_id: e.erasureId, since: e.requestedAt })
              .onConflict(oc => oc.column('user_key').doUpdateSet({ erasure_id: e.erasureId, since: e.requestedAt })).execute()
          }
        } else if (isEvent(ev, Events.erasureRemoved)) {
          const { erasureId, kind, ids } = ev.data
          for (const id of ids) {
            await trx.insertInto('erasure_items').values({ erasure_id: erasureId, kind, item_id: id }).onConflict(oc => oc.doNothing()).execute()
          }
          const removed = await dropErasedRecords(trx, erasureId, kind, ids)
          const before = await removedSoFar(erasureId)
          if (before !== undefined) {
            await trx.updateTable('erasures').set({ removed_read_models: JSON.stringify(add(before, removed)), version: ev.seq }).where('erasure_id', '=', erasureId).execute()
          }
        } else if (isEvent(ev, Events.erasureCompleted)) {
          const { erasureId, userKey, cutoffs, purged, completedAt } = ev.data
          if (keys === undefined) throw new Error('the erasures read model needs the erasure key to apply erasure.completed')
          const collected = await dropErasedEvents(trx, keys, erasureId, userKey, cutoffs)
          const before = await removedSoFar(erasureId) ?? {}
          await trx.updateTable('erasures').set({
            status: 'done',
            completed_at: completedAt,
            cutoffs: JSON.stringify(cutoffs),
            removed_streams: JSON.stringify(purged),
            removed_read_models: JSON.stringify(add(before, { 'collect-events': collected })),
            version: ev.seq
          }).where('erasure_id', '=', erasureId).execute()
        } else if (isEvent(ev, Events.suppressionLifted)) {
          await trx.deleteFrom('suppressions').where('user_key', '=', ev.data.userKey).execute()
        }
      }
    }
  }
}

export async function findErasure (db: DB, erasureId: string): Promise<ErasureRow | undefined> {
  return await db.selectFrom('erasures').selectAll().where('erasure_id', '=', erasureId).executeTakeFirst()
}

/** The user keys whose writes are refused now. */
export async function suppressedKeys (db: DB): Promise<string[]> {
  return (await db.selectFrom('suppressions').select('user_key').execute()).map(r => r.user_key)
}

/** Subjects noted to be purged again, oldest first. */
export async function notedPurges (db: DB, limit: number): Promise<Array<{ erasureId: string, stream: string, filter: string, upToSeq: number | null }>> {
  const rows = await db.selectFrom('erasure_purges').selectAll().limit(limit).execute()
  return rows.map(r => ({ erasureId: r.erasure_id, stream: r.stream, filter: r.filter, upToSeq: r.up_to_seq }))
}

/** Forgets subjects once purged. */
export async function forgetPurge (db: DB, p: { erasureId: string, stream: string, filter: string }): Promise<void> {
  await db.deleteFrom('erasure_purges').where('erasure_id', '=', p.erasureId).where('stream', '=', p.stream).where('filter', '=', p.filter).execute()
}

/** Every erasure that is done, with what it removed by id: what a start re-applies (src/projections/erasure-enforcer.ts). */
export async function doneErasures (db: DB): Promise<Array<{ erasureId: string, userKey: string, cutoffs: Record<string, number>, items: Array<{ kind: ErasedKind, id: string }> }>> {
  const rows = await db.selectFrom('erasures').select(['erasure_id', 'user_key', 'cutoffs']).where('status', '=', 'done').execute()
  const out = []
  for (const r of rows) {
    const items = await db.selectFrom('erasure_items').select(['kind', 'item_id']).where('erasure_id', '=', r.erasure_id).execute()
    out.push({ erasureId: r.erasure_id, userKey: r.user_key, cutoffs: JSON.parse(r.cutoffs ?? '{}') as Record<string, number>, items: items.map(i => ({ kind: i.kind as ErasedKind, id: i.item_id })) })
  }
  return out
}
