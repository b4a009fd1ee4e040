import type { TSchema, Static } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import '../formats.js'
import { CollectEventReceived, CollectEventReceivedV2 } from './collect.js'
import { JobCompleted, JobRequested, JobStatusChanged } from './jobs.js'
import { MessageDeadLettered, MessageReplayed } from './dlq.js'
import { MeetingCancelled, MeetingRescheduled, MeetingScheduled, MeetingUpdated, ParticipantAdded, ParticipantRemoved } from './meetings.js'
import { NotificationDeferred, NotificationFailed, NotificationRequested, NotificationSent } from './notify.js'
import { NotificationDeferredV2, NotificationFailedV2, NotificationRequestedV2, NotificationSentV2 } from './notify.js'
import {
  ScheduleCreated, ScheduleDeleted, ScheduleTicked, TaskCallbackDelivered, TaskCallbackFailed, TaskCreated, TaskFailed,
  TaskHeartbeatReceived, TaskSucceeded, TaskTimedOut
} from './tasks.js'
import { TimerFired } from './timers.js'
import { ErasureCompleted, ErasureRemoved, ErasureRequested, SuppressionLifted } from './erasures.js'
import {
  BrokerEventReceived, CallbackReceived, RelayAttemptFailed, RelayCallbackFailed, RelayCallbackSent, RelayDelivered, RelayFailed,
  RelayRequested, SyncAnswered, SyncFailed, SyncRequested, TriggerAttemptFailed, TriggerCreated, TriggerDeadLettered, TriggerDeleted, TriggerDelivered
} from './relay.js'

/** One event type at one version. Published schemas never change; a new version is added. */
export interface EventDefinition<S extends TSchema = TSchema> {
  type: string
  version: number
  schema: S
  check: TypeCheck<S>
}

function define<S extends TSchema> (type: string, version: number, schema: S): EventDefinition<S> {
  return { type, version, schema, check: TypeCompiler.Compile(schema) }
}

export const Events = {
  collectEventReceived: define('collect.event.received', 1, CollectEventReceived),
  collectEventReceivedV2: define('collect.event.received', 2, CollectEventReceivedV2),
  jobRequested: define('job.requested', 1, JobRequested),
  jobCompleted: define('job.completed', 1, JobCompleted),
  jobStatusChanged: define('job.status.changed', 1, JobStatusChanged),
  messageDeadLettered: define('dlq.message.deadlettered', 1, MessageDeadLettered),
  messageReplayed: define('dlq.message.replayed', 1, MessageReplayed),
  meetingScheduled: define('meeting.scheduled', 1, MeetingScheduled),
  meetingUpdated: define('meeting.updated', 1, MeetingUpdated),
  meetingRescheduled: define('meeting.rescheduled', 1, MeetingRescheduled),
  participantAdded: define('meeting.participant_added', 1, ParticipantAdded),
  participantRemoved: define('meeting.participant_removed', 1, ParticipantRemoved),
  meetingCancelled: define('meeting.cancelled', 1, MeetingCancelled),
  notificationRequested: define('notification.requested', 1, NotificationRequested),
  notificationSent: define('notification.sent', 1, NotificationSent),
  notificationDeferred: define('notification.deferred', 1, NotificationDeferred),
  notificationFailed: define('notification.failed', 1, NotificationFailed),
  timerFired: define('timer.fired', 1, TimerFired),
  notificationRequestedV2: define('notification.requested', 2, NotificationRequestedV2),
  notificationSentV2: define('notification.sent', 2, NotificationSentV2),
  notificationDeferredV2: define('notification.deferred', 2, NotificationDeferredV2),
  notificationFailedV2: define('notification.failed', 2, NotificationFailedV2),
  taskCreated: define('task.created', 1, TaskCreated),
  taskHeartbeatReceived: define('task.heartbeat.received', 1, TaskHeartbeatReceived),
  taskSucceeded: define('task.succeeded', 1, TaskSucceeded),
  taskFailed: define('task.failed', 1, TaskFailed),
  taskTimedOut: define('task.timed_out', 1, TaskTimedOut),
  taskCallbackDelivered: define('task.callback.delivered', 1, TaskCallbackDelivered),
  taskCallbackFailed: define('task.callback.failed', 1, TaskCallbackFailed),
  scheduleCreated: define('schedule.created', 1, ScheduleCreated),
  scheduleTicked: define('schedule.ticked', 1, ScheduleTicked),
  scheduleDeleted: define('schedule.deleted', 1, ScheduleDeleted),
  syncRequested: define('relay.sync.requested', 1, SyncRequested),
  syncAnswered: define('relay.sync.answered', 1, SyncAnswered),
  syncFailed: define('relay.sync.failed', 1, SyncFailed),
  relayRequested: define('relay.requested', 1, RelayRequested),
  relayAttemptFailed: define('relay.attempt.failed', 1, RelayAttemptFailed),
  relayDelivered: define('relay.delivered', 1, RelayDelivered),
  relayFailed: define('relay.failed', 1, RelayFailed),
  relayCallbackFailed: define('relay.callback.failed', 1, RelayCallbackFailed),
  relayCallbackSent: define('relay.callback.sent', 1, RelayCallbackSent),
  callbackReceived: define('relay.callback.received', 1, CallbackReceived),
  brokerEventReceived: define('relay.event.received', 1, BrokerEventReceived),
  triggerCreated: define('relay.trigger.created', 1, TriggerCreated),
  triggerDeleted: define('relay.trigger.deleted', 1, TriggerDeleted),
  triggerAttemptFailed: define('relay.trigger.attempt.failed', 1, TriggerAttemptFailed),
  triggerDelivered: define('relay.trigger.delivered', 1, TriggerDelivered),
  triggerDeadLettered: define('relay.trigger.deadlettered', 1, TriggerDeadLettered),
  erasureRequested: define('erasure.requested', 1, ErasureRequested),
  erasureRemoved: define('erasure.removed', 1, ErasureRemoved),
  erasureCompleted: define('erasure.completed', 1, ErasureCompleted),
  suppressionLifted: define('suppression.lifted', 1, SuppressionLifted)
} as const

export type EventData<D extends EventDefinition> = Static<D['schema']>

const byType = new Map<string, EventDefinition>(Object.values(Events).map(d => [`${d.type}@${d.version}`, d]))

/** The definition for a stored event's type and version, if this build knows it. */
export function definitionOf (type: string, version: number): EventDefinition | undefined {
  return byType.get(`${type}@${version}`)
}

/** An event a pure decider wants appended: its definition and data. */
export interface Decision<D extends EventDefinition = EventDefinition> {
  def: D
  data: EventData<D>
}

/**
 * What a command decides: one event, or none. Never more, so a decision is appended whole or not
 * at all (nats-server 2.9 has no atomic batch of messages).
 */
export type Decided = readonly [] | readonly [Decision]

export function decision<D extends EventDefinition> (def: D, data: EventData<D>): Decision {
  return { def, data }
}
