import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import nodemailer, { type Transporter } from 'nodemailer'
import ical, { ICalAttendeeRole, ICalAttendeeStatus, ICalCalendarMethod, ICalEventStatus } from 'ical-generator'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent, isEvent } from '../store/events.js'
import { Events, type EventDefinition } from '../schema/events/index.js'
import type { NotificationRequested, NotificationRequestedV2 } from '../schema/events/notify.js'
import { asV2 } from '../domain/notifications.js'
import { Subjects } from '../store/subjects.js'
import { lastOnSubject } from '../store/subject-reader.js'
import type { Clock } from '../lib/time.js'
import type { RetryPolicy, Worker } from './worker.js'
import { REPLAY_HEADER } from './dead-letters.js'

/** The iCalendar invite of a meeting's notification: UID stable for the meeting's life, SEQUENCE raised by updates. */
export function icsOf (m: NotificationRequested['metadata']): string {
  const cal = ical({ prodId: { company: 'jetway', product: 'jetway', language: 'EN' }, method: m.method === 'CANCEL' ? ICalCalendarMethod.CANCEL : ICalCalendarMethod.REQUEST })
  cal.createEvent({
    id: `${m.meetingId}@jetway`,
    sequence: m.sequence,
    start: new Date(m.startsAt),
    end: new Date(m.endsAt),
    summary: m.title,
    location: m.location,
    description: m.description,
    url: m.link,
    organizer: { name: m.organizer.name ?? m.organizer.email, email: m.organizer.email },
    attendees: m.attendees.map(a => ({ email: a.email, name: a.name, rsvp: true, role: ICalAttendeeRole.REQ, status: ICalAttendeeStatus.NEEDSACTION })),
    status: m.method === 'CANCEL' ? ICalEventStatus.CANCELLED : ICalEventStatus.CONFIRMED
  })
  return cal.toString()
}

/** SMTP 5xx answers are permanent; 4xx answers and connection trouble are worth a retry. */
function isPermanent (err: unknown): boolean {
  const code = (err as { responseCode?: unknown }).responseCode
  return typeof code === 'number' && code >= 500 && code < 600
}

export interface NotificationServiceDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  log: Logger
  smtpUrl: string | undefined
  from: string
  /** its retry policy: SMTP deferrals are retried this many times, then recorded as failed */
  retry: RetryPolicy
}

/**
 * The seed's notification service, consumer group `notification-service-group`: sends each
 * requested email (with its calendar invite, for a meeting) over SMTP, or to the local outbox
 * without SMTP_URL, and records notification.sent / .deferred / .failed. It reads both versions
 * of notification.requested (v1: a meeting's; v2: about a meeting or a task) and records its
 * results in the version it was asked in. The Message-ID derives from the notification, so a
 * peer can drop a resend after a crash; a notification that already has a result is not sent again.
 */
export function notificationServiceWorker (deps: NotificationServiceDeps): Worker {
  const transport: Transporter | undefined = deps.smtpUrl === undefined ? undefined : nodemailer.createTransport(deps.smtpUrl)
  const log = deps.log.child({ component: 'notification-service' })
  /** Appends a delivery result on notify.result.<notificationId>, idempotently. */
  const record = async (def: EventDefinition, data: { notificationId: string } & Record<string, unknown>, causationId: string, key: string): Promise<void> => {
    const id = data.notificationId
    await appendEvent(deps.js, { def, data, subject: Subjects.notificationResult(id), source: '/jetway/workers/notification-service-group', about: id, idempotencyKey: key, causationId, time: deps.clock.now() })
  }
  return {
    name: 'notification-service-group',
    stream: 'NOTIFY',
    retry: deps.retry,
    async handle (event, msg) {
      let n: NotificationRequestedV2
      if (isEvent(event, Events.notificationRequested)) n = asV2(event.data)
      else if (isEvent(event, Events.notificationRequestedV2)) n = event.data
      else return
      const v1 = event.version === 1
      const results = v1
        ? { sent: Events.notificationSent, deferred: Events.notificationDeferred, failed: Events.notificationFailed }
        : { sent: Events.notificationSentV2, deferred: Events.notificationDeferredV2, failed: Events.notificationFailedV2 }
      const id = n.notificationId
      const previous = await lastOnSubject(deps.jsm, 'NOTIFY', Subjects.notificationResult(id))
      // an operator's replay from the DLQ (npm run dlq -- replay) means "try again": only a sent one is done
      const replayOf = msg.headers?.get(REPLAY_HEADER) ?? ''
      if (previous !== null) {
        const type = decodeEvent(previous).type
        if (type === Events.notificationSent.type || (type === Events.notificationFailed.type && replayOf === '')) return
      }
      const recipient = n.recipients[0]!
      const attempts = msg.info.deliveryCount
      const delivery = v1
        ? { notificationId: id, meetingId: n.about.id, recipient: recipient.email, kind: n.kind, attempts }
        : { notificationId: id, about: n.about, recipient: recipient.email, kind: n.kind, attempts }
      const messageId = `<${id}@jetway>`
      const ics = n.calendar === undefined ? undefined : icsOf(n.calendar)
      if (transport === undefined) {
        log.info({ to: recipient.email, subject: n.message.subject, kind: n.kind }, 'email to the local outbox (no SMTP_URL)')
        await record(results.sent, { ...delivery, channel: 'outbox', messageId, outbox: { from: deps.from, subject: n.message.subject, text: n.message.text, ...(ics === undefined ? {} : { ics }) } }, event.id, `sent:${id}`)
        return
      }
      try {
        await transport.sendMail({
          from: deps.from,
          to: recipient.name === undefined ? recipient.email : { name: recipient.name, address: recipient.email },
          subject: n.message.subject,
          text: n.message.text,
          messageId,
          ...(ics === undefined || n.calendar === undefined ? {} : { icalEvent: { method: n.calendar.method, filename: 'invite.ics', content: ics } })
        })
      } catch (err) {
        const error = (err as Error).message.slice(0, 500)
        if (isPermanent(err)) {
          await record(results.failed, { ...delivery, error, permanent: true }, event.id, `failed:${id}:${replayOf}`)
          return
        }
        if (attempts >= deps.retry.attempts) {
          await record(results.failed, { ...delivery, error, permanent: false }, event.id, `failed:${id}:${replayOf}`)
        } else {
          await record(results.deferred, { ...delivery, error }, event.id, `deferred:${id}:${replayOf}:${attempts}`)
        }
        throw err
      }
      await record(results.sent, { ...delivery, channel: 'smtp', messageId }, event.id, `sent:${id}`)
    }
  }
}
