import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { appendEvent, isEvent } from '../store/events.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Events } from '../schema/events/index.js'
import { JobTimeoutPayload } from '../schema/events/timers.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import { formatDuration } from '../lib/duration.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(JobTimeoutPayload)

/**
 * The effect of a job's timeout timer (armed by job.requested at its deadline, fired by the
 * timer ticker as timer.fired on timer.jobs.>): completes the job as failed, timed out, unless
 * it already has a status.
 */
export function jobTimeoutsWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'job-timeouts',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'job-timeout') return
      const job = event.data.payload
      if (!payloadCheck.Check(job)) throw new Error(`job-timeout timer ${event.data.timerId} carries no job`)
      if (await lastOnSubject(deps.jsm, 'JOBS', Subjects.jobStatus(job.userId, job.eventId)) !== null) return
      // a job removed since (KEEP_FINISHED, an erasure) is not brought back by a late timeout
      if (await lastOnSubject(deps.jsm, 'JOBS', Subjects.jobRequested(job.eventId)) === null) return
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
