import { sql } from 'kysely'
import type { Transaction } from 'kysely'
import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { Database, RelayCallbackRow, RelayTriggerRow } from '../schema/database.js'
import type { CallbackReceived, StoredResponse, SyncRequested, TriggerCreated } from '../schema/events/relay.js'
import { evolveRelay, type RelayState } from '../domain/relay.js'
import type { Projection } from './projection.js'
import { expiredBy } from './expiry.js'
import { deleteIn } from './drop.js'

// The relay's read model (stream RELAY): each /async request's state folded by the same pure
// evolve the workers use, each /sync call, the callbacks received, and the triggers.

export interface SyncState {
  requestId: string
  request: SyncRequested
  status: 'pending' | 'answered' | 'failed'
  response?: StoredResponse
  error?: { code: string, message: string, httpStatus: number }
  durationMs?: number
}

export const relay: Projection = {
  name: 'relay',
  stream: 'RELAY',
  version: 1,
  tables: ['relay_requests', 'relay_callbacks', 'relay_triggers'],
  async apply (trx, events) {
    // the states this batch touches, written once at its end
    const touched = new Map<string, { kind: 'sync' | 'async', state: RelayState | SyncState, requestedAt: string, updatedAt: string, version: number }>()
    const load = async (id: string): Promise<{ kind: 'sync' | 'async', state: RelayState | SyncState, requestedAt: string } | undefined> => {
      const cached = touched.get(id)
      if (cached !== undefined) return cached
      const row = await trx.selectFrom('relay_requests').selectAll().where('request_id', '=', id).executeTakeFirst()
      return row === undefined ? undefined : { kind: row.kind, state: JSON.parse(row.state), requestedAt: row.requested_at }
    }
    for (const ev of events) {
      const expired = expiredBy(ev)
      if (expired?.aggregate === 'relay-request' || expired?.aggregate === 'relay-sync') {
        // KEEP_FINISHED: the request's subjects are purged from RELAY; its rows go here
        touched.delete(expired.id)
        await dropRelayRequests(trx, [expired.id])
      } else if (ev.natsSubject.startsWith('relay.requests.')) {
        const id = (ev.data as { requestId?: unknown } | null)?.requestId
        if (typeof id !== 'string') continue
        const before = await load(id)
        const state = evolveRelay(before?.kind === 'async' ? before.state as RelayState : undefined, ev)
        if (state !== undefined) touched.set(id, { kind: 'async', state, requestedAt: state.request.requestedAt, updatedAt: ev.time, version: ev.seq })
      } else if (isEvent(ev, Events.syncRequested)) {
        touched.set(ev.data.requestId, { kind: 'sync', state: { requestId: ev.data.requestId, request: ev.data, status: 'pending' }, requestedAt: ev.data.requestedAt, updatedAt: ev.time, version: ev.seq })
      } else if (isEvent(ev, Events.syncAnswered) || isEvent(ev, Events.syncFailed)) {
        const before = await load(ev.data.requestId)
        if (before?.kind !== 'sync') continue
        const state: SyncState = { ...before.state as SyncState, durationMs: ev.data.durationMs }
        if ('response' in ev.data) {
          state.status = 'answered'
          state.response = ev.data.response
        } else {
          state.status = 'failed'
          state.error = { code: ev.data.code, message: ev.data.error, httpStatus: ev.data.httpStatus }
        }
        touched.set(ev.data.requestId, { kind: 'sync', state, requestedAt: before.requestedAt, updatedAt: ev.time, version: ev.seq })
      } else if (isEvent(ev, Events.callbackReceived)) {
        await trx.insertInto('relay_callbacks').values({ seq: ev.seq, request_id: ev.data.requestId ?? null, received_at: ev.data.receivedAt, data: JSON.stringify(ev.data) })
          .onConflict(oc => oc.column('seq').doNothing()).execute()
      } else if (isEvent(ev, Events.triggerCreated)) {
        await trx.insertInto('relay_triggers').values({ name: ev.data.name, trigger: JSON.stringify(ev.data), created_at: ev.data.createdAt, version: ev.seq })
          .onConflict(oc => oc.column('name').doUpdateSet({ trigger: JSON.stringify(ev.data), created_at: ev.data.createdAt, version: ev.seq })).execute()
      } else if (isEvent(ev, Events.triggerDeleted)) {
        await trx.deleteFrom('relay_triggers').where('name', '=', ev.data.name).execute()
      }
    }
    for (const [id, t] of touched) await upsert(trx, id, t)
  }
}

async function upsert (trx: Transaction<Database>, id: string, t: { kind: 'sync' | 'async', state: RelayState | SyncState, requestedAt: string, updatedAt: string, version: number }): Promise<void> {
  const row = { request_id: id, kind: t.kind, status: t.state.status, state: JSON.stringify(t.state), requested_at: t.requestedAt, updated_at: t.updatedAt, version: t.version }
  await trx.insertInto('relay_requests').values(row)
    .onConflict(oc => oc.column('request_id').doUpdateSet({ status: row.status, state: row.state, updated_at: row.updated_at, version: row.version })).execute()
}

/** Drops relay requests and the callbacks received for them (KEEP_FINISHED): resolves the rows removed. */
export async function dropRelayRequests (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => {
    const callbacks = (await trx.deleteFrom('relay_callbacks').where('request_id', 'in', chunk).executeTakeFirst()).numDeletedRows
    return callbacks + (await trx.deleteFrom('relay_requests').where('request_id', 'in', chunk).executeTakeFirst()).numDeletedRows
  })
}

export async function findRelayRequest (db: DB, requestId: string): Promise<{ kind: 'async', state: RelayState } | { kind: 'sync', state: SyncState } | undefined> {
  const row = await db.selectFrom('relay_requests').select(['kind', 'state']).where('request_id', '=', requestId).executeTakeFirst()
  if (row === undefined) return undefined
  return row.kind === 'async' ? { kind: 'async', state: JSON.parse(row.state) as RelayState } : { kind: 'sync', state: JSON.parse(row.state) as SyncState }
}

export interface ReceivedCallback extends CallbackReceived {
  seq: number
}

/** Callbacks received, oldest first, after `afterSeq`; of one request when given. */
export async function listCallbacks (db: DB, q: { requestId?: string, afterSeq?: number, limit: number }): Promise<ReceivedCallback[]> {
  let query = db.selectFrom('relay_callbacks').selectAll().where('seq', '>', q.afterSeq ?? 0)
  if (q.requestId !== undefined) query = query.where('request_id', '=', q.requestId)
  const rows: RelayCallbackRow[] = await query.orderBy('seq').limit(q.limit).execute()
  return rows.map(r => ({ seq: r.seq, ...JSON.parse(r.data) as CallbackReceived }))
}

export async function listTriggers (db: DB): Promise<{ trigger: TriggerCreated, version: number }[]> {
  const rows: RelayTriggerRow[] = await db.selectFrom('relay_triggers').selectAll().orderBy('name').execute()
  return rows.map(r => ({ trigger: JSON.parse(r.trigger) as TriggerCreated, version: r.version }))
}

export async function findTrigger (db: DB, name: string): Promise<{ trigger: TriggerCreated, version: number } | undefined> {
  const row = await db.selectFrom('relay_triggers').selectAll().where('name', '=', name).executeTakeFirst()
  return row === undefined ? undefined : { trigger: JSON.parse(row.trigger) as TriggerCreated, version: row.version }
}

/** The latest relay requests (an operator's view), newest first, of a kind and status when given. */
export async function recentRelayRequests (db: DB, q: { kind?: 'sync' | 'async', status?: string, limit: number }): Promise<Array<{ kind: 'async', state: RelayState } | { kind: 'sync', state: SyncState }>> {
  let query = db.selectFrom('relay_requests').select(['kind', 'state'])
  if (q.kind !== undefined) query = query.where('kind', '=', q.kind)
  if (q.status !== undefined) query = query.where('status', '=', q.status)
  const rows = await query.orderBy(sql`rowid`, 'desc').limit(q.limit).execute()
  return rows.map(row => row.kind === 'async' ? { kind: 'async', state: JSON.parse(row.state) as RelayState } : { kind: 'sync', state: JSON.parse(row.state) as SyncState })
}
