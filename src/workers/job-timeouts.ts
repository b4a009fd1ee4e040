import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import { formatDuration } from '../lib/duration.js'
import type { Worker } from './worker.js'

/**
 * Holds each job.requested until its deadline (a delayed redelivery: the due time lives in the
 * stream, not in a timer of this process), then completes the job as failed, timed out,
 * unless it already has a status.
 */
export function jobTimeoutsWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'job-timeouts',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.jobRequested)) return
      const job = event.data
      const due = Date.parse(job.deadline) - deps.clock.now().getTime()
      if (due > 0) return { retryInMs: due }
      const status = await deps.jsm.direct.getMessage('JOBS', { last_by_subj: Subjects.jobStatus(job.userId, job.eventId) })
      if (status !== null) return
      const waited = Date.parse(job.deadline) - Date.parse(job.requestedAt)
      await appendEvent(deps.js, {
        def: Events.jobCompleted,
        data: { eventId: job.eventId, eventStatus: 'N', eventDesc: `timed out: no completion within ${formatDuration(waited)}`, origin: 'timeout' },
        subject: Subjects.jobCompleted(job.eventId),
        source: '/jetway/workers/job-timeouts',
        about: job.eventId,
        idempotencyKey: `timeout:${job.eventId}`,
        causationId: event.id,
        time: deps.clock.now()
      })
    }
  }
}
