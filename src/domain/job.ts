import { isEvent, type StoredEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { formatDuration } from '../lib/duration.js'
import { Events, decision, type Decided, type Decision } from '../schema/events/index.js'
import type { EventStatus, JobRequested, JobType } from '../schema/events/jobs.js'
import type { Aggregate } from '../store/command.js'
import { Subjects } from '../store/subjects.js'

// The job aggregate (seed 000), pure: evolve folds its events, decide says which event a command
// appends. A job is requested once, with its deadline. Completions arrive as received
// (job.completed: from the intake, the simulator, or the job's own timeout); the first one
// matched to the job becomes its one status (job.status.changed, the message SSE streams), and
// anything after it changes nothing. Its events stay on the JOBS subjects that SSE, the read
// model and operators know: jobs.requested.<eventId> and jobs.status.<userId>.<eventId> (read
// here), jobs.completed.<eventId> (appended to, never read: completions are its inputs).

export interface JobState extends JobRequested {
  /** its one status, once a completion was matched to it */
  status?: { eventStatus: EventStatus, eventDesc: string }
  /** the request's correlation id, which the job's later events carry */
  correlationId?: string
  /** stream sequence of the job's last event read */
  version: number
}

/** A completion for a job whose request is not (yet) in JOBS: retried, the request may still come. */
export class JobNotFound extends JetwayError {
  override name = 'JobNotFound'
  constructor (eventId: string) {
    super(ErrorCodes.notFound, `no job.requested for eventId ${eventId}`)
  }
}

export function evolve (state: JobState | undefined, ev: StoredEvent): JobState | undefined {
  if (isEvent(ev, Events.jobRequested)) {
    if (state !== undefined) return state
    return { ...ev.data, ...(ev.correlationId === undefined ? {} : { correlationId: ev.correlationId }), version: ev.seq }
  }
  if (state === undefined) return undefined
  if (isEvent(ev, Events.jobStatusChanged) && state.status === undefined) {
    return { ...state, status: { eventStatus: ev.data.eventStatus, eventDesc: ev.data.eventDesc }, version: ev.seq }
  }
  return { ...state, version: ev.seq }
}

export type JobCommand =
  /** POST /noti/pub: `timeoutSeconds` if given, else the default, from `at` */
  | { kind: 'request', eventId: string, eventType: JobType, userId: string, at: Date, timeoutSeconds?: number, defaultTimeoutMs: number }
  /** a completion as received, matched to its job: the first one wins */
  | { kind: 'complete', eventId: string, eventStatus: EventStatus, eventDesc: string }
  /** the job's timeout timer fired (it is armed at the deadline, which never moves) */
  | { kind: 'timeOut', eventId: string }

export function decide (state: JobState | undefined, command: JobCommand): Decided {
  switch (command.kind) {
    case 'request': {
      // the same id again (an Idempotency-Key retry) changes nothing
      if (state !== undefined) return []
      const timeoutMs = command.timeoutSeconds === undefined ? command.defaultTimeoutMs : command.timeoutSeconds * 1000
      return [decision(Events.jobRequested, {
        eventId: command.eventId,
        eventType: command.eventType,
        userId: command.userId,
        requestedAt: command.at.toISOString(),
        deadline: new Date(command.at.getTime() + timeoutMs).toISOString()
      })]
    }
    case 'complete': {
      if (state === undefined) throw new JobNotFound(command.eventId)
      if (state.status !== undefined) return []
      const { eventId, eventType, userId } = state
      return [decision(Events.jobStatusChanged, { eventId, eventStatus: command.eventStatus, eventDesc: command.eventDesc, eventType, userId })]
    }
    case 'timeOut': {
      // a job that has its status (or is not there) has nothing to time out
      if (state === undefined || state.status !== undefined) return []
      const waited = Date.parse(state.deadline) - Date.parse(state.requestedAt)
      return [decision(Events.jobCompleted, { eventId: state.eventId, eventStatus: 'N', eventDesc: `timed out: no completion within ${formatDuration(waited)}`, origin: 'timeout' })]
    }
  }
}

/** The subject of each event a job appends. */
function subjectOf (eventId: string, d: Decision): string {
  if (d.def === Events.jobStatusChanged) return Subjects.jobStatus((d.data as { userId: string }).userId, eventId)
  if (d.def === Events.jobCompleted) return Subjects.jobCompleted(eventId)
  return Subjects.jobRequested(eventId)
}

/** A job as the command handler sees it: its request, then its status, whose subject the request names. */
export const jobAggregate: Aggregate<JobState, JobCommand> = {
  stream: 'JOBS',
  subject: Subjects.jobRequested,
  moreSubjects: (eventId, state) => state === undefined ? [] : [Subjects.jobStatus(state.userId, eventId)],
  // a job is requested once and has one status, each appended expecting its subject empty: a
  // completion decides on the request alone and its append finds out whether a status came first
  onePerSubject: true,
  subjectOf,
  correlationOf: state => state?.correlationId,
  evolve,
  decide
}
