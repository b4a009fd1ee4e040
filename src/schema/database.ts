import type { Generated, Insertable, Selectable } from 'kysely'

// One Database interface from per-table types. Each table belongs to one projection
// (src/projections/<name>.ts); its DDL is in src/schema/migrations.ts.

export interface ProjectionCheckpointTable {
  name: string
  last_seq: number
  version: number
  updated_at: string
  /** 1 while a rebuild refills the projection (its rows are not current) */
  rebuilding: Generated<number>
}

export interface CollectEventTable {
  seq: number
  event_id: string
  user_id: string
  event: string
  event_datetime: string
  /** JSON text, or null */
  parameters: string | null
  received_at: string
  /** an SDK message's anonymousId (null for the seed's events) */
  anonymous_id: string | null
  /** an SDK message's context, JSON text (null for the seed's events) */
  context: string | null
  /** an SDK message's integrations, JSON text (null for the seed's events) */
  integrations: string | null
}

/** Collected events per minute (of received_at) and event name: the console's chart. */
export interface CollectMinuteTable {
  /** YYYY-MM-DDTHH:MM, UTC */
  minute: string
  event: string
  count: number
}

export interface JobTable {
  event_id: string
  user_id: string
  event_type: string
  /** PENDING until the job's job.status.changed, then the seed's Y or N */
  status: string
  event_desc: string
  requested_at: string
  deadline: string
  completed_at: string | null
  /** JOBS sequence of the job.status.changed, the SSE id of the job's status */
  status_seq: number | null
  /** JOBS sequence of the job.requested (0011): the row goes when the stream no longer holds it */
  requested_seq: number | null
}

export interface MeetingTable {
  meeting_id: string
  title: string
  starts_at: string
  ends_at: string
  location: string
  description: string
  organizer_id: string
  organizer_email: string
  organizer_name: string | null
  cancelled: number
  sequence: number
  /** MEETINGS sequence of the meeting's last event: its ETag */
  version: number
}

export interface MeetingParticipantTable {
  meeting_id: string
  /** lower-cased, the key */
  email: string
  name: string | null
}

export interface NotificationTable {
  notification_id: string
  /** the meeting's id; '' for a notification about something else */
  meeting_id: string
  /** what it is about (0007): 'meeting' or 'task', and its id */
  about_type: Generated<string>
  about_id: Generated<string>
  recipient: string
  kind: string
  status: string
  attempts: number
  last_error: string | null
  sent_at: string | null
  requested_at: string
  /** NOTIFY sequence of the notification.requested (0011): the row goes when the stream no longer holds it */
  requested_seq: number | null
}

export interface OutboxTable {
  notification_id: string
  recipient: string
  from_address: string
  subject: string
  text: string
  ics: string
  at: string
}

export interface TimerTable {
  /** unique per arming kind and key, e.g. job-timeout:<eventId>, meeting-reminder:<id>:<start> */
  timer_id: string
  /** the projection that owns the row (one per stream that sets timers) */
  projection: string
  /** the stream whose events set it, where it fires */
  stream: string
  kind: string
  /** epoch milliseconds */
  due_at: number
  /** JSON handed to the effect */
  payload: string
  /** what a later event clears together, e.g. job:<eventId>, meeting:<id> */
  group_key: string
  /** stream sequence of the event that armed it */
  set_seq: number
}

export interface TaskTable {
  task_id: string
  owner: string
  type: string
  title: string
  /** WAITING, SUCCEEDED, FAILED, TIMED_OUT */
  status: string
  /** JSON text */
  input: string
  /** JSON text of the output, once SUCCEEDED */
  output: string | null
  error: string | null
  cause: string | null
  /** JSON text of who decided ({via, approver?, actor?}) */
  decided_by: string | null
  /** JSON array of the approvers' emails */
  approvers: string
  created_at: string
  decided_at: string | null
  deadline: string
  timeout_seconds: number
  heartbeat_seconds: number | null
  heartbeat_deadline: string | null
  last_heartbeat_at: string | null
  callback_url: string | null
  schedule_id: string | null
  schedule_tick: string | null
  /** TASKS sequence of the task's last event: its ETag */
  version: number
  /** TASKS sequence of task.created: the order of listings */
  created_seq: number
}

export interface TaskCallbackTable {
  task_id: string
  attempt: number
  /** delivered, failed */
  outcome: string
  status_code: number | null
  error: string | null
  final: number
  at: string
}

export interface ScheduleTable {
  schedule_id: string
  owner: string
  name: string
  cron: string
  timezone: string
  /** JSON text of the task template */
  task: string
  created_at: string
  next_tick: string | null
  last_tick: string | null
  last_task_id: string | null
  last_skipped: number | null
  deleted: number
  version: number
  created_seq: number
}

/** An /async or /sync relay request: its state folded from RELAY (src/domain/relay.ts). */
export interface RelayRequestTable {
  request_id: string
  kind: 'sync' | 'async'
  status: string
  /** JSON of the folded state (RelayState, or the sync call's record) */
  state: string
  requested_at: string
  updated_at: string
  /** RELAY sequence of the request's last event */
  version: number
}

export interface RelayCallbackTable {
  /** RELAY sequence of the relay.callback.received, the SSE id */
  seq: number
  request_id: string | null
  received_at: string
  /** JSON of the event's data */
  data: string
}

export interface RelayTriggerTable {
  name: string
  /** JSON of relay.trigger.created */
  trigger: string
  created_at: string
  /** RELAY sequence of its relay.trigger.created */
  version: number
}

/** An erasure of a user (src/projections/erasures.ts): no personal data, the user is a keyed hash. */
export interface ErasureTable {
  erasure_id: string
  /** HMAC of the user id (src/lib/erasure-key.ts) */
  user_key: string
  suppress: number
  /** pending, done */
  status: string
  requested_at: string
  completed_at: string | null
  /** JSON {stream: last sequence the erasure covers} */
  cutoffs: string | null
  /** JSON {stream: messages purged}, from the executor */
  removed_streams: string | null
  /** JSON {read model table: rows removed here} */
  removed_read_models: string
  /** ERASURES sequence of its last event */
  version: number
}

/** What an erasure removed, by id (a job, a meeting, a task, a schedule, a notification). */
export interface ErasureItemTable {
  erasure_id: string
  kind: string
  item_id: string
}

/**
 * Subjects to purge again, noted where an instance dropped an erased user's rows: the streams
 * held them when its read models were built (a restore of an older backup), or held them
 * until the erasure ran. Purged (idempotently) and deleted by src/projections/erasure-enforcer.ts.
 */
export interface ErasurePurgeTable {
  erasure_id: string
  stream: string
  filter: string
  /** the erasure's cutoff in that stream; null: the whole subject */
  up_to_seq: number | null
}

/** Users whose future writes are refused (DELETE /api/users/{id}?suppress=true), by keyed hash. */
export interface SuppressionTable {
  user_key: string
  erasure_id: string
  since: string
}

export interface Database {
  projection_checkpoints: ProjectionCheckpointTable
  collect_events: CollectEventTable
  collect_minutes: CollectMinuteTable
  jobs: JobTable
  meetings: MeetingTable
  meeting_participants: MeetingParticipantTable
  notifications: NotificationTable
  outbox: OutboxTable
  timers: TimerTable
  tasks: TaskTable
  task_callbacks: TaskCallbackTable
  schedules: ScheduleTable
  relay_requests: RelayRequestTable
  relay_callbacks: RelayCallbackTable
  relay_triggers: RelayTriggerTable
  erasures: ErasureTable
  erasure_items: ErasureItemTable
  erasure_purges: ErasurePurgeTable
  suppressions: SuppressionTable
}

export type CollectEventRow = Selectable<CollectEventTable>
export type NewCollectEventRow = Insertable<CollectEventTable>
export type JobRow = Selectable<JobTable>
export type NewJobRow = Insertable<JobTable>
export type MeetingRow = Selectable<MeetingTable>
export type NotificationRow = Selectable<NotificationTable>
export type OutboxRow = Selectable<OutboxTable>
export type TimerRow = Selectable<TimerTable>
export type NewTimerRow = Insertable<TimerTable>
export type TaskRow = Selectable<TaskTable>
export type TaskCallbackRow = Selectable<TaskCallbackTable>
export type ScheduleRow = Selectable<ScheduleTable>
export type RelayRequestRow = Selectable<RelayRequestTable>
export type RelayCallbackRow = Selectable<RelayCallbackTable>
export type RelayTriggerRow = Selectable<RelayTriggerTable>
export type ErasureRow = Selectable<ErasureTable>
export type { Generated }
