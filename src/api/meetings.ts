import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { meetingAggregate, type MeetingCommand, type MeetingState } from '../domain/meeting.js'
import { handleCommand } from '../store/command.js'
import { findMeeting, listMeetings, type MeetingView } from '../projections/meetings.js'
import { notificationsOf, outbox, deliveryRecordOf } from '../projections/notifications.js'
import {
  AddParticipants, CancelMeeting, CreateMeeting, DeliveryRecords, ListQuery, Meeting, MeetingList, MeetingParams,
  OutboxList, OutboxQuery, ParticipantParams, PatchMeeting
} from '../schema/api/meetings.js'
import { MinSeqQuery } from '../schema/api/common.js'
import type { Organizer } from '../schema/events/meetings.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { idempotencyKeyOf, idForKey } from './http/idempotency.js'

// Meetings of seed 004: every write is a command on the meeting aggregate (src/store/command.ts):
// its events are appended with the expected last subject sequence (the ETag), so two writers
// can never both win.

export interface MeetingsOptions {
  runtime: Runtime
  auth: Auth
}

type MeetingBody = typeof Meeting.static

function fromState (s: MeetingState): MeetingBody {
  return {
    id: s.meetingId,
    version: s.version,
    title: s.title,
    startsAt: s.startsAt,
    endsAt: s.endsAt,
    location: s.location,
    description: s.description,
    organizer: s.organizer,
    participants: s.participants,
    status: s.cancelled ? 'cancelled' : 'scheduled',
    sequence: s.sequence
  }
}

export function fromView (m: MeetingView): MeetingBody {
  return {
    id: m.meeting_id,
    version: m.version,
    title: m.title,
    startsAt: m.starts_at,
    endsAt: m.ends_at,
    location: m.location,
    description: m.description,
    organizer: { userId: m.organizer_id, email: m.organizer_email, ...(m.organizer_name === null ? {} : { name: m.organizer_name }) },
    participants: m.participants.map(p => ({ email: p.email, ...(p.name === null ? {} : { name: p.name }) })),
    status: m.cancelled === 1 ? 'cancelled' : 'scheduled',
    sequence: m.sequence
  }
}

/** Times are stored in UTC (toISOString), so read models compare them as text. */
function utc<T extends string | undefined> (time: T): T {
  return (time === undefined ? undefined : new Date(time).toISOString()) as T
}

/** `If-Match: "12"` (or W/"12") as a version; undefined when absent. */
function ifMatchOf (request: FastifyRequest): number | undefined {
  const raw = request.headers['if-match']
  if (raw === undefined) return undefined
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(raw)
  if (match === null) throw new JetwayError(ErrorCodes.validation, 'If-Match must be an ETag this API returned', [{ field: 'If-Match', message: 'must be an ETag like "12"' }])
  return Number(match[1])
}

function sendVersion (reply: FastifyReply, version: number): void {
  reply.header('etag', `"${version}"`)
}

export const meetings: FastifyPluginAsyncTypebox<MeetingsOptions> = async (app, { runtime, auth }) => {
  const { js, jsm, db, clock } = runtime
  app.addHook('onRequest', auth.authenticate)

  const canSee = (request: FastifyRequest, m: { organizerId: string, emails: string[] }): boolean => {
    const id = auth.identity(request)
    if (id.admin) return true
    const email = id.email?.toLowerCase()
    return id.userId === m.organizerId || (email !== undefined && m.emails.some(e => e.toLowerCase() === email))
  }

  const store = { js, jsm, clock }

  /** Runs a command on a meeting the caller may change; answers the meeting as it now is. */
  async function change (request: FastifyRequest, reply: FastifyReply, meetingId: string, command: MeetingCommand): Promise<MeetingBody> {
    const id = auth.identity(request)
    const result = await handleCommand(store, meetingAggregate, meetingId, command, {
      source: '/jetway/api/meetings',
      actor: id.userId,
      correlationId: request.id,
      expectedVersion: ifMatchOf(request),
      guard: state => {
        if (state === undefined || !canSee(request, { organizerId: state.organizer.userId, emails: state.participants.map(p => p.email) })) {
          throw new JetwayError(ErrorCodes.notFound, `no meeting ${meetingId}`)
        }
        if (!id.admin && id.userId !== state.organizer.userId) throw new JetwayError(ErrorCodes.forbidden, 'only the organizer may change a meeting')
      }
    })
    const last = result.appended.at(-1)
    if (last !== undefined) sendSeq(reply, 'MEETINGS', last)
    sendVersion(reply, result.version)
    return fromState(result.state!)
  }

  function organizerOf (request: FastifyRequest, body: { organizer?: Organizer }): Organizer {
    const id = auth.identity(request)
    if (auth.mode === 'off' || (id.admin && body.organizer !== undefined)) {
      if (body.organizer === undefined) throw new JetwayError(ErrorCodes.validation, 'organizer {userId, email, name} is required with AUTH_MODE=off', [{ field: 'organizer', message: 'is required' }])
      return body.organizer
    }
    const email = id.email ?? (id.userId?.includes('@') === true ? id.userId : undefined)
    if (email === undefined || id.userId === undefined) throw new JetwayError(ErrorCodes.validation, 'your token names no email (email claim) for the invitations', [{ field: 'organizer.email', message: 'is required in the token' }])
    return { userId: id.userId, email, ...(id.name === undefined ? {} : { name: id.name }) }
  }

  app.post('/api/meetings', { schema: { tags: ['meetings'], summary: 'Schedule a meeting: every participant gets an invitation (Idempotency-Key honoured)', body: CreateMeeting, response: { 201: Meeting } } }, async (request, reply) => {
    const b = request.body
    const organizer = organizerOf(request, b)
    runtime.suppressions.refuse(organizer.userId, 'organizer.userId')
    if (b.endsAt === undefined && b.durationMinutes === undefined) throw new JetwayError(ErrorCodes.validation, 'give endsAt or durationMinutes', [{ field: 'endsAt', message: 'is required (or durationMinutes)' }])
    const startsAt = utc(b.startsAt)
    const endsAt = utc(b.endsAt) ?? new Date(Date.parse(startsAt) + b.durationMinutes! * 60_000).toISOString()
    const key = idempotencyKeyOf(request)
    const meetingId = key === undefined ? randomUUID().replace(/-/g, '') : idForKey('meetings', organizer.userId, key, 'hex')
    const data = {
      meetingId,
      title: b.title,
      startsAt,
      endsAt,
      location: b.location,
      description: b.description ?? '',
      organizer,
      participants: b.participants
    }
    // Scheduling again under the same id (an Idempotency-Key retry) appends nothing and answers
    // the meeting as stored, not the retry's body.
    const result = await handleCommand(store, meetingAggregate, meetingId, { kind: 'schedule', data }, {
      source: '/jetway/api/meetings',
      actor: auth.identity(request).userId,
      correlationId: request.id,
      idempotencyKey: `meeting:${meetingId}`
    })
    const last = result.appended.at(-1)
    if (last !== undefined) sendSeq(reply, 'MEETINGS', last)
    sendVersion(reply, result.version)
    reply.header('jetway-duplicate', String(result.appended.length === 0))
    return await reply.code(201).header('location', `/api/meetings/${meetingId}`).send(fromState(result.state!))
  })

  app.get('/api/meetings/:id', { schema: { tags: ['meetings'], summary: 'A meeting, with its ETag', params: MeetingParams, querystring: MinSeqQuery, response: { 200: Meeting } } }, async (request, reply) => {
    await waitForProjection(runtime, 'meetings', request, request.query.min_seq)
    const m = await findMeeting(db, request.params.id)
    if (m === undefined || !canSee(request, { organizerId: m.organizer_id, emails: [m.organizer_email, ...m.participants.map(p => p.email)] })) {
      throw new JetwayError(ErrorCodes.notFound, `no meeting ${request.params.id}`)
    }
    sendVersion(reply, m.version)
    return fromView(m)
  })

  app.get('/api/meetings', { schema: { tags: ['meetings'], summary: 'Meetings a user organizes or attends, by start time', querystring: ListQuery, response: { 200: MeetingList } } }, async request => {
    const q = request.query
    await waitForProjection(runtime, 'meetings', request, q.min_seq)
    const id = auth.identity(request)
    let who: { userId?: string, email?: string }
    if (auth.mode === 'off' || (id.admin && (q.userId !== undefined || q.email !== undefined))) {
      if (q.userId === undefined && q.email === undefined) throw new JetwayError(ErrorCodes.validation, 'whose meetings? give userId or email', [{ field: 'userId', message: 'is required (or email) with AUTH_MODE=off' }])
      who = { userId: q.userId, email: q.email }
    } else {
      who = { userId: id.userId, email: id.email ?? (id.userId?.includes('@') === true ? id.userId : undefined) }
    }
    const items = await listMeetings(db, { ...who, from: q.from === undefined ? undefined : new Date(q.from).toISOString(), to: q.to === undefined ? undefined : new Date(q.to).toISOString(), limit: q.limit })
    return { items: items.map(fromView) }
  })

  app.patch('/api/meetings/:id', { schema: { tags: ['meetings'], summary: 'Change or reschedule a meeting (If-Match: 412 on a stale version)', params: MeetingParams, body: PatchMeeting, response: { 200: Meeting } } }, async (request, reply) => {
    const { startsAt, endsAt, ...rest } = request.body
    return await change(request, reply, request.params.id, { kind: 'update', ...rest, startsAt: utc(startsAt), endsAt: utc(endsAt) })
  })

  app.post('/api/meetings/:id/participants', { schema: { tags: ['meetings'], summary: 'Invite more participants', params: MeetingParams, body: AddParticipants, response: { 200: Meeting } } }, async (request, reply) =>
    await change(request, reply, request.params.id, { kind: 'addParticipants', participants: request.body.participants }))

  app.delete('/api/meetings/:id/participants/:email', { schema: { tags: ['meetings'], summary: 'Remove a participant (they get a cancellation)', params: ParticipantParams, response: { 200: Meeting } } }, async (request, reply) =>
    await change(request, reply, request.params.id, { kind: 'removeParticipant', email: request.params.email }))

  app.post('/api/meetings/:id/cancel', {
    schema: { tags: ['meetings'], summary: 'Cancel a meeting (everyone gets a cancellation)', params: MeetingParams, body: CancelMeeting, response: { 200: Meeting } },
    // a cancel needs no body: none counts as {}
    preValidation: async request => { if (request.body === undefined || request.body === null) request.body = {} }
  }, async (request, reply) =>
    await change(request, reply, request.params.id, { kind: 'cancel', reason: request.body?.reason }))

  app.get('/api/meetings/:id/notifications', { schema: { tags: ['meetings'], summary: 'Delivery records of a meeting\'s emails, per recipient', params: MeetingParams, querystring: MinSeqQuery, response: { 200: DeliveryRecords } } }, async request => {
    await waitForProjection(runtime, 'notifications', request, request.query.min_seq)
    const m = await findMeeting(db, request.params.id)
    if (m === undefined || !canSee(request, { organizerId: m.organizer_id, emails: [m.organizer_email, ...m.participants.map(p => p.email)] })) {
      throw new JetwayError(ErrorCodes.notFound, `no meeting ${request.params.id}`)
    }
    const rows = await notificationsOf(db, request.params.id)
    return {
      items: rows.map(deliveryRecordOf)
    }
  })

  app.get('/api/outbox', { schema: { tags: ['meetings'], summary: 'The local outbox: emails sent with no SMTP_URL (admin)', querystring: OutboxQuery, response: { 200: OutboxList } } }, async request => {
    if (!auth.identity(request).admin) throw new JetwayError(ErrorCodes.forbidden, 'the outbox is for admins')
    const rows = await outbox(db, request.query.limit)
    return { items: rows.map(r => ({ notificationId: r.notification_id, to: r.recipient, from: r.from_address, subject: r.subject, text: r.text, ics: r.ics, at: r.at })) }
  })
}
