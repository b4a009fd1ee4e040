import { setTimeout as sleep } from 'node:timers/promises'
import type { JetStreamClient } from '@nats-io/jetstream'
import { appendEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/**
 * The demo of `npm start` (JOB_SIMULATOR=on): plays the system that runs the jobs, and
 * completes each requested job 2-4 s later with a random Y/N, through the same job.completed
 * event a real intake produces.
 */
export function jobSimulatorWorker (deps: { js: JetStreamClient, clock: Clock, random?: () => number }): Worker {
  const random = deps.random ?? Math.random
  return {
    name: 'job-simulator',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.jobRequested)) return
      // the job "runs" for a few seconds; the runner keeps the message with working() meanwhile
      await sleep(2000 + random() * 2000)
      const ok = random() < 0.7
      await appendEvent(deps.js, {
        def: Events.jobCompleted,
        data: { eventId: event.data.eventId, eventStatus: ok ? 'Y' : 'N', eventDesc: ok ? '' : `simulated ${event.data.eventType} failure`, origin: 'simulator' },
        subject: Subjects.jobCompleted(event.data.eventId),
        source: '/jetway/workers/job-simulator',
        about: event.data.eventId,
        idempotencyKey: `simulated:${event.data.eventId}`,
        causationId: event.id,
        time: deps.clock.now()
      })
    }
  }
}
