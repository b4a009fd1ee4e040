import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { NotificationRow, OutboxRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { asV2 } from '../domain/notifications.js'
import { deleteIn } from './drop.js'
import type { Transaction } from 'kysely'
import type { Database } from '../schema/database.js'

// Delivery records per recipient (the seed's 알림 발송 기록), and the local outbox of the
// messages that went nowhere else (no SMTP_URL).

export const notifications: Projection = {
  name: 'notifications',
  stream: 'NOTIFY',
  // 2: requested_seq, by which a delivery record follows NOTIFY's retention
  version: 2,
  tables: ['notifications', 'outbox'],
  async apply (trx, events) {
    for (const ev of events) {
      // v1 is a meeting's; v2 says what it is about (a meeting or a task)
      const requested = isEvent(ev, Events.notificationRequested) ? asV2(ev.data) : isEvent(ev, Events.notificationRequestedV2) ? ev.data : undefined
      if (requested !== undefined) {
        const n = requested
        await trx.insertInto('notifications').values({
          notification_id: n.notificationId,
          meeting_id: n.about.type === 'meeting' ? n.about.id : '',
          about_type: n.about.type,
          about_id: n.about.id,
          recipient: n.recipients[0]!.email,
          kind: n.kind,
          status: 'pending',
          attempts: 0,
          last_error: null,
          sent_at: null,
          requested_at: ev.time,
          requested_seq: ev.seq
        }).onConflict(oc => oc.doNothing()).execute()
      } else if (isEvent(ev, Events.notificationSent) || isEvent(ev, Events.notificationSentV2)) {
        const n = ev.data
        await trx.updateTable('notifications').set({ status: 'sent', attempts: n.attempts, sent_at: ev.time })
          .where('notification_id', '=', n.notificationId).execute()
        if (n.outbox !== undefined) {
          await trx.insertInto('outbox').values({
            notification_id: n.notificationId, recipient: n.recipient, from_address: n.outbox.from, subject: n.outbox.subject, text: n.outbox.text, ics: n.outbox.ics ?? '', at: ev.time
          }).onConflict(oc => oc.doNothing()).execute()
        }
      } else if (isEvent(ev, Events.notificationDeferred) || isEvent(ev, Events.notificationDeferredV2)) {
        await trx.updateTable('notifications').set({ attempts: ev.data.attempts, last_error: ev.data.error })
          .where('notification_id', '=', ev.data.notificationId).where('status', '=', 'pending').execute()
      } else if (isEvent(ev, Events.notificationFailed) || isEvent(ev, Events.notificationFailedV2)) {
        await trx.updateTable('notifications').set({ status: 'failed', attempts: ev.data.attempts, last_error: ev.data.error })
          .where('notification_id', '=', ev.data.notificationId).where('status', '!=', 'sent').execute()
      }
    }
  },
  async prune (trx, firstSeq) {
    const gone = trx.selectFrom('notifications').select('notification_id').where('requested_seq', '<', firstSeq)
    await trx.deleteFrom('outbox').where('notification_id', 'in', gone).execute()
    return Number((await trx.deleteFrom('notifications').where('requested_seq', '<', firstSeq).executeTakeFirst()).numDeletedRows)
  }
}

/** Drops delivery records and their outbox copies (an erasure): resolves the rows removed. */
export async function dropNotifications (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => {
    const copies = (await trx.deleteFrom('outbox').where('notification_id', 'in', chunk).executeTakeFirst()).numDeletedRows
    return copies + (await trx.deleteFrom('notifications').where('notification_id', 'in', chunk).executeTakeFirst()).numDeletedRows
  })
}

/** The ids of the delivery records about some meetings or tasks (what an erasure of them removes). */
export async function notificationIdsAbout (db: DB | Transaction<Database>, type: 'meeting' | 'task', ids: string[]): Promise<string[]> {
  const out: string[] = []
  await deleteIn(ids, async chunk => {
    const rows = await db.selectFrom('notifications').select('notification_id').where('about_type', '=', type).where('about_id', 'in', chunk).execute()
    for (const r of rows) out.push(r.notification_id)
    return 0
  })
  return out
}

export async function notificationsOf (db: DB, meetingId: string): Promise<NotificationRow[]> {
  return await db.selectFrom('notifications').selectAll().where('meeting_id', '=', meetingId).orderBy('requested_at').orderBy('recipient').execute()
}

export async function outbox (db: DB, limit: number): Promise<OutboxRow[]> {
  return await db.selectFrom('outbox').selectAll().orderBy('at', 'desc').limit(limit).execute()
}

/** Delivery records of the notifications about one thing (a task's approval emails). */
export async function notificationsAbout (db: DB, type: 'meeting' | 'task', id: string): Promise<NotificationRow[]> {
  return await db.selectFrom('notifications').selectAll().where('about_type', '=', type).where('about_id', '=', id).orderBy('requested_at').orderBy('recipient').execute()
}

/** Delivery records per status of the notifications about each of some things (meetings' emails). */
export async function deliveryCounts (db: DB, type: 'meeting' | 'task', ids: string[]): Promise<Map<string, Record<'pending' | 'sent' | 'failed', number>>> {
  const out = new Map<string, Record<'pending' | 'sent' | 'failed', number>>()
  if (ids.length === 0) return out
  const rows = await db.selectFrom('notifications').select(['about_id', 'status', db.fn.countAll<number>().as('n')])
    .where('about_type', '=', type).where('about_id', 'in', ids).groupBy(['about_id', 'status']).execute()
  for (const r of rows) {
    const counts = out.get(r.about_id) ?? { pending: 0, sent: 0, failed: 0 }
    if (r.status === 'pending' || r.status === 'sent' || r.status === 'failed') counts[r.status] += Number(r.n)
    out.set(r.about_id, counts)
  }
  return out
}

/** A delivery record as the API shows it (meetings and tasks alike). */
export function deliveryRecordOf (r: NotificationRow): { notificationId: string, recipient: string, kind: string, status: 'pending' | 'sent' | 'failed', attempts: number, lastError: string | null, sentAt: string | null, requestedAt: string } {
  return {
    notificationId: r.notification_id,
    recipient: r.recipient,
    kind: r.kind,
    status: r.status as 'pending' | 'sent' | 'failed',
    attempts: r.attempts,
    lastError: r.last_error,
    sentAt: r.sent_at,
    requestedAt: r.requested_at
  }
}
