import { sql } from 'kysely'
import type { DB } from './db.js'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { MeetingRow } from '../schema/database.js'
import type { Projection } from './projection.js'
import { expiredBy } from './expiry.js'
import { deleteIn } from './drop.js'
import type { Transaction } from 'kysely'
import type { Database } from '../schema/database.js'
import { jsonRows } from './dialect.js'

// Meetings and their participants: what the seed cached as meeting:info:{id} and
// meeting:participants:{id}, as rows.

export const meetings: Projection = {
  name: 'meetings',
  stream: 'MEETINGS',
  version: 1,
  tables: ['meetings', 'meeting_participants'],
  async apply (trx, events) {
    for (const ev of events) {
      if (isEvent(ev, Events.meetingScheduled)) {
        const m = ev.data
        await trx.insertInto('meetings').values({
          meeting_id: m.meetingId,
          title: m.title,
          starts_at: m.startsAt,
          ends_at: m.endsAt,
          location: m.location,
          description: m.description,
          organizer_id: m.organizer.userId,
          organizer_email: m.organizer.email,
          organizer_name: m.organizer.name ?? null,
          cancelled: 0,
          sequence: 0,
          version: ev.seq
        }).onConflict(oc => oc.doNothing()).execute()
        for (const p of m.participants) {
          await trx.insertInto('meeting_participants').values({ meeting_id: m.meetingId, email: p.email.toLowerCase(), name: p.name ?? null })
            .onConflict(oc => oc.doNothing()).execute()
        }
        continue
      }
      const expired = expiredBy(ev)
      if (expired?.aggregate === 'meeting') {
        // KEEP_FINISHED: a past meeting's subject is purged from MEETINGS; its rows go here
        await dropMeetings(trx, [expired.id])
        continue
      }
      const meetingId = (ev.data as { meetingId?: string } | null)?.meetingId
      if (meetingId === undefined) continue
      const bump = trx.updateTable('meetings').where('meeting_id', '=', meetingId)
      if (isEvent(ev, Events.meetingUpdated) || isEvent(ev, Events.meetingRescheduled)) {
        const d = ev.data as { title?: string, location?: string, description?: string, startsAt?: string, endsAt?: string }
        await bump.set({
          ...(d.title === undefined ? {} : { title: d.title }),
          ...(d.location === undefined ? {} : { location: d.location }),
          ...(d.description === undefined ? {} : { description: d.description }),
          ...(d.startsAt === undefined ? {} : { starts_at: d.startsAt }),
          ...(d.endsAt === undefined ? {} : { ends_at: d.endsAt }),
          sequence: sql`sequence + 1`,
          version: ev.seq
        }).execute()
      } else if (isEvent(ev, Events.participantAdded)) {
        for (const p of ev.data.participants) {
          await trx.insertInto('meeting_participants').values({ meeting_id: meetingId, email: p.email.toLowerCase(), name: p.name ?? null })
            .onConflict(oc => oc.doNothing()).execute()
        }
        await bump.set({ version: ev.seq }).execute()
      } else if (isEvent(ev, Events.participantRemoved)) {
        await trx.deleteFrom('meeting_participants').where('meeting_id', '=', meetingId).where('email', '=', ev.data.email.toLowerCase()).execute()
        await bump.set({ version: ev.seq }).execute()
      } else if (isEvent(ev, Events.meetingCancelled)) {
        await bump.set({ cancelled: 1, sequence: sql`sequence + 1`, version: ev.seq }).execute()
      }
    }
  }
}

/** Drops meetings and their participants (KEEP_FINISHED, an erasure): resolves the rows removed. */
export async function dropMeetings (trx: Transaction<Database>, ids: string[]): Promise<number> {
  return await deleteIn(ids, async chunk => {
    const participants = (await trx.deleteFrom('meeting_participants').where('meeting_id', 'in', chunk).executeTakeFirst()).numDeletedRows
    return participants + (await trx.deleteFrom('meetings').where('meeting_id', 'in', chunk).executeTakeFirst()).numDeletedRows
  })
}

export interface MeetingView extends MeetingRow {
  participants: { email: string, name: string | null }[]
}

/**
 * Meetings with their participants in one statement: the participants come as a JSON array
 * from a correlated subquery (ordered by email), so a list of N meetings is one query, not 2N.
 */
function meetingsWithParticipants (db: DB) {
  return db.selectFrom('meetings').selectAll('meetings')
    .select(jsonRows(db, 'meeting_participants', ['email', 'name'], sql`meeting_participants.meeting_id = meetings.meeting_id`, 'email').as('participants_json'))
}

function viewOf ({ participants_json: json, ...row }: MeetingRow & { participants_json: string }): MeetingView {
  return { ...row, participants: JSON.parse(json) as MeetingView['participants'] }
}

export async function findMeeting (db: DB, meetingId: string): Promise<MeetingView | undefined> {
  const row = await meetingsWithParticipants(db).where('meeting_id', '=', meetingId).executeTakeFirst()
  return row === undefined ? undefined : viewOf(row)
}

/** Meetings a user organizes or attends, by start time, optionally within [from, to). */
export async function listMeetings (db: DB, q: { userId?: string, email?: string, from?: string, to?: string, limit: number }): Promise<MeetingView[]> {
  let query = meetingsWithParticipants(db).where(eb => eb.or([
    ...(q.userId === undefined ? [] : [eb('organizer_id', '=', q.userId)]),
    ...(q.email === undefined
      ? []
      : [
          eb('organizer_email', '=', q.email),
          eb('meeting_id', 'in', eb.selectFrom('meeting_participants').select('meeting_id').where('email', '=', q.email.toLowerCase()))
        ])
  ]))
  if (q.from !== undefined) query = query.where('ends_at', '>', q.from)
  if (q.to !== undefined) query = query.where('starts_at', '<', q.to)
  return (await query.orderBy('starts_at').limit(q.limit).execute()).map(viewOf)
}

/** The latest meetings of everyone (an operator's view), newest scheduled first. */
export async function recentMeetings (db: DB, limit: number): Promise<MeetingView[]> {
  return (await meetingsWithParticipants(db).orderBy(sql`meetings.rowid`, 'desc').limit(limit).execute()).map(viewOf)
}

/** Every user id that organizes meetings: where an erasure finds the user its keyed hash names. */
export async function organizerIds (db: DB): Promise<string[]> {
  return (await db.selectFrom('meetings').select('organizer_id').distinct().execute()).map(r => r.organizer_id)
}

/** The ids of the meetings some users organize. */
export async function meetingIdsOf (db: DB, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return []
  return (await db.selectFrom('meetings').select('meeting_id').where('organizer_id', 'in', userIds).execute()).map(r => r.meeting_id)
}
