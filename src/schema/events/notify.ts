import { Type, type Static } from '@sinclair/typebox'
import { Email, Instant, MeetingId, PersonName } from './meetings.js'

// Seed 004's NotificationRequest and its delivery records, on stream NOTIFY.
export const NotificationKind = Type.Union(['invite', 'update', 'cancel', 'reminder'].map(k => Type.Literal(k)))
export type NotificationKind = 'invite' | 'update' | 'cancel' | 'reminder'
export const NotificationId = Type.String({ pattern: '^[0-9a-f]{32}$' })
const Recipient = Type.Object({ email: Email, name: Type.Optional(PersonName) })

/** notification.requested v1: one recipient per request, so each is retried on its own. */
export const NotificationRequested = Type.Object({
  notificationId: NotificationId,
  channel: Type.Literal('EMAIL'),
  kind: NotificationKind,
  recipients: Type.Array(Recipient, { minItems: 1, maxItems: 1 }),
  message: Type.Object({ subject: Type.String(), text: Type.String() }),
  metadata: Type.Object({
    meetingId: MeetingId,
    title: Type.String(),
    startsAt: Instant,
    endsAt: Instant,
    location: Type.String(),
    description: Type.String(),
    link: Type.String(),
    organizer: Type.Object({ email: Email, name: Type.Optional(PersonName) }),
    attendees: Type.Array(Recipient),
    /** iCalendar SEQUENCE: raised by every update */
    sequence: Type.Integer({ minimum: 0 }),
    method: Type.Union([Type.Literal('REQUEST'), Type.Literal('CANCEL')])
  })
})
export type NotificationRequested = Static<typeof NotificationRequested>

const Delivery = {
  notificationId: NotificationId,
  meetingId: MeetingId,
  recipient: Email,
  kind: NotificationKind,
  attempts: Type.Integer({ minimum: 1 })
}

/** notification.sent v1 */
export const NotificationSent = Type.Object({
  ...Delivery,
  channel: Type.Union([Type.Literal('smtp'), Type.Literal('outbox')]),
  messageId: Type.String(),
  /** the whole message, when it went to the local outbox (no SMTP_URL) */
  outbox: Type.Optional(Type.Object({ from: Type.String(), subject: Type.String(), text: Type.String(), ics: Type.String() }))
})
export type NotificationSent = Static<typeof NotificationSent>

/** notification.deferred v1: a transient failure; it will be retried */
export const NotificationDeferred = Type.Object({ ...Delivery, error: Type.String() })
export type NotificationDeferred = Static<typeof NotificationDeferred>

/** notification.failed v1: a permanent failure, or the last of the attempts */
export const NotificationFailed = Type.Object({ ...Delivery, error: Type.String(), permanent: Type.Boolean() })
export type NotificationFailed = Static<typeof NotificationFailed>

// Version 2: a notification about anything (a meeting, a task), not only a meeting. A v1
// request reads as v2 with about {type: 'meeting'} and its metadata as `calendar` (upcast in
// src/domain/notifications.ts); its results stay v1, so a v1 reader never meets v2 data.
export const NotificationKindV2 = Type.Union(['invite', 'update', 'cancel', 'reminder', 'approval'].map(k => Type.Literal(k)))
export type NotificationKindV2 = NotificationKind | 'approval'
export const NotificationAbout = Type.Object({
  type: Type.Union([Type.Literal('meeting'), Type.Literal('task')]),
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
})
export type NotificationAbout = Static<typeof NotificationAbout>

/** notification.requested v2: one recipient; `calendar` attaches a meeting's invite. */
export const NotificationRequestedV2 = Type.Object({
  notificationId: NotificationId,
  channel: Type.Literal('EMAIL'),
  kind: NotificationKindV2,
  recipients: Type.Array(Recipient, { minItems: 1, maxItems: 1 }),
  message: Type.Object({ subject: Type.String(), text: Type.String() }),
  about: NotificationAbout,
  calendar: Type.Optional(NotificationRequested.properties.metadata)
})
export type NotificationRequestedV2 = Static<typeof NotificationRequestedV2>

const DeliveryV2 = {
  notificationId: NotificationId,
  about: NotificationAbout,
  recipient: Email,
  kind: NotificationKindV2,
  attempts: Type.Integer({ minimum: 1 })
}

/** notification.sent v2 */
export const NotificationSentV2 = Type.Object({
  ...DeliveryV2,
  channel: Type.Union([Type.Literal('smtp'), Type.Literal('outbox')]),
  messageId: Type.String(),
  outbox: Type.Optional(Type.Object({ from: Type.String(), subject: Type.String(), text: Type.String(), ics: Type.Optional(Type.String()) }))
})
export type NotificationSentV2 = Static<typeof NotificationSentV2>

/** notification.deferred v2 */
export const NotificationDeferredV2 = Type.Object({ ...DeliveryV2, error: Type.String() })
export type NotificationDeferredV2 = Static<typeof NotificationDeferredV2>

/** notification.failed v2 */
export const NotificationFailedV2 = Type.Object({ ...DeliveryV2, error: Type.String(), permanent: Type.Boolean() })
export type NotificationFailedV2 = Static<typeof NotificationFailedV2>
