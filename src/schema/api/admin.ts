import { Type, type Static } from '@sinclair/typebox'
import { UserId } from './fields.js'
import { Job } from './jobs.js'
import { Meeting } from './meetings.js'
import { MinSeqQuery } from './common.js'

// HTTP bodies of what the web console reads: the operator's view of streams, consumers, read
// models and dead letters (admin), and the listings and live tail a user's console shows.

export const StreamView = Type.Object({
  name: Type.String(),
  description: Type.String(),
  subjects: Type.Array(Type.String()),
  messages: Type.Integer(),
  bytes: Type.Integer(),
  firstSeq: Type.Integer(),
  lastSeq: Type.Integer(),
  lastTime: Type.Union([Type.String(), Type.Null()], { description: 'time of the last message' }),
  consumers: Type.Integer({ description: 'consumers of any kind, ephemeral ones included' }),
  replicas: Type.Integer(),
  storage: Type.String()
})

export const ConsumerView = Type.Object({
  stream: Type.String(),
  name: Type.String(),
  description: Type.String(),
  filter: Type.String(),
  pending: Type.Integer({ description: 'messages not yet delivered' }),
  ackPending: Type.Integer({ description: 'delivered, not yet acknowledged' }),
  redelivered: Type.Integer({ description: 'messages delivered more than once' }),
  waiting: Type.Integer({ description: 'pull requests waiting: workers listening' }),
  deliveredSeq: Type.Integer(),
  ackFloorSeq: Type.Integer()
})

export const ProjectionView = Type.Object({
  name: Type.String(),
  stream: Type.String(),
  appliedSeq: Type.Integer(),
  lag: Type.Integer({ description: 'stream messages not applied yet; -1 when NATS did not answer' }),
  rebuilding: Type.Boolean()
})

export const StreamList = Type.Object({ items: Type.Array(StreamView), truncated: Type.Boolean() })
export const ConsumerList = Type.Object({ items: Type.Array(ConsumerView), truncated: Type.Boolean() })

/** What an acknowledged write survives (src/store/durability.ts); in /readyz and the overview. */
export const DurabilityView = Type.Object({
  mode: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('external')], { description: 'always: fsynced before each ack; interval: fsynced every syncInterval; external: as the server at NATS_URL is configured' }),
  syncInterval: Type.Optional(Type.String()),
  server: Type.String({ description: 'nats-server version' }),
  note: Type.String({ description: 'what an OS crash or power loss can lose' })
})

export const GrowthView = Type.Object({
  perHour: Type.Union([Type.Number(), Type.Null()], { description: 'change per hour over the window; null until two samples 10 s apart exist' }),
  windowSeconds: Type.Integer({ description: 'the span of the samples (at most an hour)' })
})

export const StorageView = Type.Object({
  streams: Type.Array(Type.Object({ name: Type.String(), bytes: Type.Integer(), messages: Type.Integer(), bytesGrowth: GrowthView, messagesGrowth: GrowthView })),
  readModel: Type.Union([Type.Object({
    file: Type.String(),
    db: Type.Integer({ description: 'bytes of the SQLite file' }),
    wal: Type.Integer({ description: 'bytes of its write-ahead log' }),
    shm: Type.Integer(),
    total: Type.Integer(),
    growth: GrowthView
  }), Type.Null()], { description: 'the SQLite read models on disk; null with a PostgreSQL read model' })
})

export const Overview = Type.Object({
  instance: Type.Object({
    version: Type.String(),
    roles: Type.Array(Type.String()),
    authMode: Type.String(),
    startedAt: Type.String(),
    nats: Type.Object({ connected: Type.Boolean(), server: Type.String(), version: Type.String() }),
    durability: DurabilityView
  }),
  storage: StorageView,
  streams: Type.Array(StreamView),
  consumers: Type.Array(ConsumerView),
  projections: Type.Array(ProjectionView),
  deadLetters: Type.Object({ letters: Type.Integer(), replayed: Type.Integer() }),
  requests: Type.Object({
    perSecond: Type.Array(Type.Integer(), { description: 'requests answered in each of the last 60 seconds, oldest first' }),
    errorsPerSecond: Type.Array(Type.Integer(), { description: 'of those, 5xx' }),
    average: Type.Number({ description: 'requests per second over the last minute' }),
    total: Type.Integer()
  }),
  sse: Type.Object({ connections: Type.Integer({ description: 'open SSE connections of this instance' }) }),
  timers: Type.Object({ pending: Type.Integer() })
})
export type Overview = Static<typeof Overview>

const PerMinute = (description: string) => Type.Array(Type.Integer(), { description: `${description}, in each of the 60 minutes, oldest first` })

export const Activity = Type.Object({
  from: Type.String({ description: 'start of the first minute (ISO 8601); the current minute is the last' }),
  requests: Type.Object({
    total: PerMinute('requests this instance answered'),
    clientErrors: PerMinute('of those, 4xx'),
    serverErrors: PerMinute('of those, 5xx')
  }, { description: 'this instance\'s answers' }),
  collected: Type.Object({
    series: Type.Array(Type.Object({
      event: Type.String(),
      counts: PerMinute('events of this name collected'),
      total: Type.Integer()
    }), { description: 'the ten event names collected most in the hour, most first' }),
    other: Type.Object({
      counts: PerMinute('events of every other name'),
      total: Type.Integer(),
      names: Type.Integer({ description: 'how many other names' })
    }),
    total: Type.Integer()
  }, { description: 'every instance\'s: the collect-events read model counts them per minute of receipt' })
})
export type Activity = Static<typeof Activity>

export const DeadLetterView = Type.Object({
  dlqSeq: Type.Integer(),
  time: Type.String(),
  stream: Type.String(),
  consumer: Type.String(),
  seq: Type.Integer({ description: 'the original message\'s stream sequence' }),
  subject: Type.String(),
  type: Type.String({ description: 'the original message\'s event type (ce-type), if it had one' }),
  deliveries: Type.Integer(),
  error: Type.String(),
  preview: Type.String({ description: 'the original body as text, cut at 2 KiB' }),
  replayedAs: Type.Union([Type.Integer(), Type.Null()], { description: 'sequence of the replayed copy, once replayed' })
})
export type DeadLetterView = Static<typeof DeadLetterView>

export const DeadLetterList = Type.Object({
  items: Type.Array(DeadLetterView, { description: 'newest first' }),
  letters: Type.Integer({ description: 'dead letters in DLQ in all' }),
  replayed: Type.Integer()
})
export const DeadLetterQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) })
export const DeadLetterParams = Type.Object({ seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) })
export const Replayed = Type.Object({
  dlqSeq: Type.Integer(),
  subject: Type.String(),
  seq: Type.Integer({ description: 'stream sequence of the replayed copy' }),
  stream: Type.String()
})

export const MeetingSummary = Type.Object({
  ...Meeting.properties,
  deliveries: Type.Object({ pending: Type.Integer(), sent: Type.Integer(), failed: Type.Integer() })
})
export const MeetingSummaryList = Type.Object({ items: Type.Array(MeetingSummary) })
export const RecentQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) })

export const JobListQuery = Type.Object({
  userId: Type.Optional(UserId),
  status: Type.Optional(Type.Union([Type.Literal('PENDING'), Type.Literal('Y'), Type.Literal('N')])),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  cursor: Type.Optional(Type.String({ pattern: '^\\d{1,15}$', description: 'nextCursor of the previous page' })),
  ...MinSeqQuery.properties
})
export const JobList = Type.Object({ items: Type.Array(Job, { description: 'newest first' }), nextCursor: Type.Union([Type.String(), Type.Null()]) })

export const WhoAmI = Type.Object({
  authMode: Type.Union([Type.Literal('off'), Type.Literal('jwt')]),
  userId: Type.Union([Type.String(), Type.Null()], { description: 'null in AUTH_MODE=off' }),
  email: Type.Union([Type.String(), Type.Null()]),
  admin: Type.Boolean({ description: 'may read everyone\'s data (always, in AUTH_MODE=off)' }),
  streams: Type.Array(Type.String(), { description: 'the streams the live tail can show this caller' })
})

export const TailQuery = Type.Object({
  streams: Type.Optional(Type.String({ maxLength: 600, pattern: '^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$', description: 'comma-separated; default: every stream the caller may see' })),
  types: Type.Optional(Type.String({ maxLength: 1000, pattern: '^[A-Za-z0-9_.*-]+(,[A-Za-z0-9_.*-]+)*$', description: 'comma-separated event types; `job.*` matches a prefix' })),
  /** an admin: only the events of this user */
  user: Type.Optional(UserId),
  history: Type.Integer({ minimum: 0, maximum: 200, default: 0, description: 'first send up to this many stored events of each stream (the latest), then live' }),
  lastEventId: Type.Optional(Type.String({ maxLength: 2000 }))
})

export const RelayRequestSummary = Type.Object({
  requestId: Type.String(),
  kind: Type.Union([Type.Literal('sync'), Type.Literal('async')]),
  status: Type.String({ description: 'sync: pending, answered, failed; async: pending, delivered, failed, dead-lettered' }),
  method: Type.String(),
  url: Type.String(),
  requestedAt: Type.String(),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer({ description: 'attempts on the target, every round' }),
  responseStatus: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  callback: Type.Union([Type.Object({ url: Type.String(), status: Type.String(), attempts: Type.Integer(), lastError: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  dlqSeq: Type.Union([Type.Integer(), Type.Null()])
})
export const RelayRequestList = Type.Object({ items: Type.Array(RelayRequestSummary) })
export const RelayRequestQuery = Type.Object({
  kind: Type.Optional(Type.Union([Type.Literal('sync'), Type.Literal('async')])),
  status: Type.Optional(Type.String({ maxLength: 20, pattern: '^[a-z-]+$' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 })
})

export const TriggerDeliveryView = Type.Object({
  trigger: Type.String(),
  eventSeq: Type.Integer({ description: 'RELAY sequence of the broker event' }),
  eventId: Type.String(),
  lane: Type.String(),
  status: Type.Union([Type.Literal('retrying'), Type.Literal('delivered'), Type.Literal('dead-lettered')]),
  attempts: Type.Integer({ description: 'attempts recorded (a first-attempt success records none)' }),
  lastAt: Type.String(),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  sink: Type.Union([Type.String(), Type.Null()], { description: 'where a dead-lettered event went: url, dlq or none' }),
  dlqSeq: Type.Union([Type.Integer(), Type.Null()])
})
export const TriggerSummary = Type.Object({
  name: Type.String(),
  subscriber: Type.String({ description: 'the URL, or "relay"' }),
  consumer: Type.Union([ConsumerView, Type.Null()], { description: 'its durable consumer of RELAY, as NATS reports it' })
})
export const TriggerDeliveryList = Type.Object({
  triggers: Type.Array(TriggerSummary),
  items: Type.Array(TriggerDeliveryView, { description: 'newest first; deliveries with a retry, a late success or a dead letter' }),
  since: Type.String({ description: 'delivery records are read from this time on' })
})
export const TriggerDeliveryQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) })
export type TriggerDeliveryView = Static<typeof TriggerDeliveryView>
