import type { JetStreamManager } from '@nats-io/jetstream'
import type { FinishedAggregate } from '../schema/events/timers.js'
import type { ErasedKind } from '../schema/events/erasures.js'
import { Subjects } from './subjects.js'

// Removing things from streams by subject (JetStream's purge with a filter): what KEEP_FINISHED
// and an erasure do. Purge is allowed on every Jetway stream (deny_purge: false; deny_delete
// only forbids deleting single messages). A purge is idempotent: purging a subject that holds
// nothing purges 0.

/** One subject filter in one stream. */
export interface StreamSubject {
  stream: string
  filter: string
}

/** The subjects that hold an aggregate's own events (its timer firings stay: they keep "fire once"). */
export function subjectsOf (aggregate: FinishedAggregate, id: string): StreamSubject[] {
  switch (aggregate) {
    case 'job':
      return [
        { stream: 'JOBS', filter: Subjects.jobRequested(id) },
        { stream: 'JOBS', filter: Subjects.jobCompleted(id) },
        { stream: 'JOBS', filter: Subjects.jobStatusOfJob(id) }
      ]
    case 'task':
      return [{ stream: 'TASKS', filter: Subjects.task(id) }, { stream: 'TASKS', filter: Subjects.taskCallback(id) }]
    case 'schedule':
      return [{ stream: 'TASKS', filter: Subjects.schedule(id) }]
    case 'meeting':
      return [{ stream: 'MEETINGS', filter: Subjects.meeting(id) }]
    case 'relay-request':
      return [{ stream: 'RELAY', filter: Subjects.relayRequest(id) }, { stream: 'RELAY', filter: Subjects.callbackReceived(id) }]
    case 'relay-sync':
      return [{ stream: 'RELAY', filter: Subjects.relaySync(id) }]
  }
}

/**
 * Purges each subject filter; with `upTo`, only messages up to that sequence of their stream
 * (what an erasure covers). Resolves the messages purged per stream.
 */
export async function purgeSubjects (jsm: JetStreamManager, subjects: readonly StreamSubject[], upTo?: Partial<Record<string, number>>): Promise<Record<string, number>> {
  const purged: Record<string, number> = {}
  for (const { stream, filter } of subjects) {
    const last = upTo?.[stream]
    const { purged: n } = await jsm.streams.purge(stream, last === undefined ? { filter } : { filter, seq: last + 1 })
    purged[stream] = (purged[stream] ?? 0) + n
  }
  return purged
}

/** What one user has in the streams: found in the read models, by id. */
export interface UserRecords {
  userIds: string[]
  ids: Record<ErasedKind, string[]>
}

/**
 * The subjects that hold a user's records. The user's own subjects (collected events, job
 * statuses) only up to the erasure's cutoff; a record found (a job, meeting, task, schedule,
 * notification) whole, with the timer firings that carry its user id (a job's timeout).
 */
export function subjectsOfUser (records: UserRecords): { upToCutoff: StreamSubject[], whole: StreamSubject[] } {
  const upToCutoff = records.userIds.flatMap(u => [
    { stream: 'COLLECT', filter: Subjects.collectOfUser(u) },
    { stream: 'JOBS', filter: Subjects.jobStatusOfUser(u) }
  ])
  const { job, meeting, task, schedule, notification } = records.ids
  const whole: StreamSubject[] = [
    ...job.flatMap(id => [...subjectsOf('job', id), { stream: 'JOBS', filter: Subjects.timerFirings('JOBS', `job-timeout:${id}`) }]),
    ...meeting.flatMap(id => [...subjectsOf('meeting', id), { stream: 'NOTIFY', filter: Subjects.notificationRequested(id) }]),
    ...task.flatMap(id => [...subjectsOf('task', id), { stream: 'NOTIFY', filter: Subjects.notificationRequestedAbout('task', id) }]),
    ...schedule.flatMap(id => subjectsOf('schedule', id)),
    ...notification.map(id => ({ stream: 'NOTIFY', filter: Subjects.notificationResult(id) }))
  ]
  return { upToCutoff, whole }
}
