// Subject tokens built from user input. NATS splits subjects on '.', treats '*' and '>' as
// wildcards and forbids whitespace, so those (and '%', the escape itself, and anything
// outside printable ASCII) become %XX per UTF-8 byte: 'a.b' -> 'a%2Eb', 'ü' -> '%C3%BC'.
// Everything else stays as typed, so `nats stream view --subject` remains readable.

const SAFE = /^[\x21-\x7E]$/
const UNSAFE_ASCII = new Set(['.', '*', '>', '%'])

export function escapeToken (value: string): string {
  // A lone '%' cannot come out of escaping anything else, so it stands for the empty token.
  if (value === '') return '%'
  let out = ''
  for (const ch of value) {
    if (SAFE.test(ch) && !UNSAFE_ASCII.has(ch)) {
      out += ch
    } else {
      for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0')
    }
  }
  return out
}

export function unescapeToken (token: string): string {
  if (token === '%') return ''
  const bytes: number[] = []
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '%') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(token.charCodeAt(i))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Every subject Jetway writes, in one place, so their shapes can be read side by side. */
export const Subjects = {
  /** COLLECT: collect.user.<user_id>.<event> */
  collect: (userId: string, event: string) => `collect.user.${escapeToken(userId)}.${escapeToken(event)}`,
  /** JOBS: jobs.requested.<eventId> */
  jobRequested: (eventId: string) => `jobs.requested.${escapeToken(eventId)}`,
  /** JOBS: jobs.completed.<eventId>, completions as received */
  jobCompleted: (eventId: string) => `jobs.completed.${escapeToken(eventId)}`,
  /** JOBS: jobs.status.<userId>.<eventId>, one per job, what SSE streams */
  jobStatus: (userId: string, eventId: string) => `jobs.status.${escapeToken(userId)}.${escapeToken(eventId)}`,
  jobStatusOfJob: (eventId: string) => `jobs.status.*.${escapeToken(eventId)}`,
  jobStatusOfUser: (userId: string) => `jobs.status.${escapeToken(userId)}.*`,
  /** MEETINGS: meetings.<meetingId>, every event of one meeting (optimistic concurrency) */
  meeting: (meetingId: string) => `meetings.${escapeToken(meetingId)}`,
  /** NOTIFY: notify.requested.<meetingId> */
  notificationRequested: (meetingId: string) => `notify.requested.${escapeToken(meetingId)}`,
  /** NOTIFY: notify.result.<notificationId>: sent, deferred or failed */
  notificationResult: (notificationId: string) => `notify.result.${notificationId}`,
  /** TASKS: tasks.<taskId>, every event of one task (optimistic concurrency) */
  task: (taskId: string) => `tasks.${escapeToken(taskId)}`,
  /** TASKS: tasks.<taskId>.callback, the deliveries of its outcome to its callbackUrl */
  taskCallback: (taskId: string) => `tasks.${escapeToken(taskId)}.callback`,
  /** TASKS: schedules.<scheduleId>, every event of one schedule */
  schedule: (scheduleId: string) => `schedules.${escapeToken(scheduleId)}`,
  /** NOTIFY: notify.requested.<type>.<id>, a notification about a task (v2; a meeting's stay on the v1 subject) */
  notificationRequestedAbout: (type: string, id: string) => `notify.requested.${escapeToken(type)}.${escapeToken(id)}`,
  /** timer.<stream>.<timerId>.<setSeq>: the one firing of one arming, in the stream that set it */
  timerFired: (stream: string, timerId: string, setSeq: number) => `timer.${stream.toLowerCase()}.${escapeToken(timerId)}.${setSeq}`,
  timersOf: (stream: string) => `timer.${stream.toLowerCase()}.>`,
  /** every firing of one timer id (each arming fires once) */
  timerFirings: (stream: string, timerId: string) => `timer.${stream.toLowerCase()}.${escapeToken(timerId)}.*`,
  /** RELAY: relay.sync.<requestId>, one /sync call and its outcome */
  relaySync: (requestId: string) => `relay.sync.${escapeToken(requestId)}`,
  /** RELAY: relay.requests.<requestId>, an /async request's every event (its aggregate) */
  relayRequest: (requestId: string) => `relay.requests.${escapeToken(requestId)}`,
  /** RELAY: relay.events.<type>.<lane>, broker CloudEvents (lane: the escaped CloudEvents subject, % without one) */
  brokerEvent: (typeToken: string, laneToken: string) => `relay.events.${typeToken}.${laneToken}`,
  brokerEvents: 'relay.events.>',
  /** RELAY: relay.triggers.<name>, a trigger's creation and deletion */
  trigger: (name: string) => `relay.triggers.${escapeToken(name)}`,
  triggers: 'relay.triggers.>',
  /** RELAY: relay.deliveries.<trigger>.<lane>, retries and outcomes of one trigger's deliveries on one lane */
  triggerLane: (name: string, laneToken: string) => `relay.deliveries.${escapeToken(name)}.${laneToken}`,
  triggerLanes: (name: string) => `relay.deliveries.${escapeToken(name)}.>`,
  /** RELAY: relay.callbacks.<requestId>, callbacks received (% when no request could be told) */
  callbackReceived: (requestId: string | undefined) => `relay.callbacks.${requestId === undefined ? '%' : escapeToken(requestId)}`,
  callbacks: 'relay.callbacks.>',
  /** LEASES: lease.<name>, the one holder of a named lease */
  lease: (name: string) => `lease.${escapeToken(name)}`,
  /** DLQ: dlq.<stream>.<consumer> */
  deadLetter: (stream: string, consumer: string) => `dlq.${escapeToken(stream)}.${escapeToken(consumer)}`,
  deadLetterReplayed: 'dlq.replayed',
  /** ERASURES: erasure.requests.<erasureId>, every event of one erasure of a user */
  erasure: (erasureId: string) => `erasure.requests.${escapeToken(erasureId)}`,
  /** ERASURES: erasure.suppressions.<userKey>, the lifting of a user's suppression */
  suppression: (userKey: string) => `erasure.suppressions.${escapeToken(userKey)}`,
  /** COLLECT: every event of one user */
  collectOfUser: (userId: string) => `collect.user.${escapeToken(userId)}.>`
}

/**
 * The values a subject of `pattern` was made from, unescaped, one per `*` of the pattern;
 * undefined for a subject of another shape.
 */
function valuesOf (pattern: string, subject: string): string[] | undefined {
  const want = pattern.split('.')
  const got = subject.split('.')
  if (got.length !== want.length) return undefined
  const values: string[] = []
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '*') values.push(unescapeToken(got[i]!))
    else if (want[i] !== got[i]) return undefined
  }
  return values
}

/** Subjects read back into what Subjects made them from; undefined for a subject of another shape. */
export const SubjectParts = {
  /** jobs.status.<userId>.<eventId> */
  jobStatus: (subject: string): { userId: string, eventId: string } | undefined => {
    const v = valuesOf('jobs.status.*.*', subject)
    return v === undefined ? undefined : { userId: v[0]!, eventId: v[1]! }
  },
  /** tasks.<taskId> (not its callback deliveries, tasks.<taskId>.callback) */
  task: (subject: string): { taskId: string } | undefined => {
    const v = valuesOf('tasks.*', subject)
    return v === undefined ? undefined : { taskId: v[0]! }
  },
  /** relay.callbacks.<requestId>: requestId undefined where no request could be told (%) */
  callbackReceived: (subject: string): { requestId: string | undefined } | undefined => {
    const v = valuesOf('relay.callbacks.*', subject)
    return v === undefined ? undefined : { requestId: v[0] === '' ? undefined : v[0] }
  }
}
