import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, decodeEvent, isEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Events } from '../schema/events/index.js'
import { Subjects } from '../store/subjects.js'
import { lastOnSubject } from '../store/subject-reader.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/**
 * Consumes job.completed (as received) and emits the seed's status message as one
 * job.status.changed per job. The status subject must be empty (expected last subject
 * sequence 0), so two instances, a redelivery or a second completion can never add another.
 * A completion whose job.requested is not (yet) in JOBS fails, is retried with backoff (the
 * request may still arrive) and is dead-lettered after WORKER_MAX_DELIVER tries.
 */
export function completionWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'completion-worker',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.jobCompleted)) return
      const completion = event.data
      const stored = await lastOnSubject(deps.jsm, 'JOBS', Subjects.jobRequested(completion.eventId))
      const request = stored === null ? undefined : decodeEvent(stored)
      if (request === undefined || !isEvent(request, Events.jobRequested)) {
        throw new Error(`no job.requested for eventId ${completion.eventId}`)
      }
      const job = request.data
      try {
        await appendEvent(deps.js, {
          def: Events.jobStatusChanged,
          data: { eventId: job.eventId, eventStatus: completion.eventStatus, eventDesc: completion.eventDesc, eventType: job.eventType, userId: job.userId },
          subject: Subjects.jobStatus(job.userId, job.eventId),
          source: '/jetway/workers/completion-worker',
          about: job.eventId,
          idempotencyKey: `status:${job.eventId}`,
          expectLastSubjectSeq: 0,
          causationId: event.id,
          correlationId: request.correlationId,
          time: deps.clock.now()
        })
      } catch (err) {
        // the job already has its status: a later completion changes nothing
        if (err instanceof JetwayError && err.code === ErrorCodes.conflict) return
        throw err
      }
    }
  }
}
