import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { handleCommand } from '../store/command.js'
import { jobAggregate } from '../domain/job.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/**
 * Consumes job.completed (as received) and matches it to its job: the job aggregate decides
 * the one job.status.changed (the seed's status message), so two instances, a redelivery or a
 * second completion never add another. A completion whose job.requested is not (yet) in JOBS
 * fails (JobNotFound), is retried with backoff (the request may still arrive) and is
 * dead-lettered after WORKER_MAX_DELIVER tries.
 */
export function completionWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'completion-worker',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.jobCompleted)) return
      const { eventId, eventStatus, eventDesc } = event.data
      await handleCommand(deps, jobAggregate, eventId, { kind: 'complete', eventId, eventStatus, eventDesc }, {
        source: '/jetway/workers/completion-worker',
        idempotencyKey: `status:${eventId}`,
        causationId: event.id
      })
    }
  }
}
