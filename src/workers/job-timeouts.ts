import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { JobTimeoutPayload } from '../schema/events/timers.js'
import { handleCommand } from '../store/command.js'
import { jobAggregate } from '../domain/job.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(JobTimeoutPayload)

/**
 * The effect of a job's timeout timer (armed by job.requested at its deadline, fired by the
 * timer ticker as timer.fired on timer.jobs.>): the job aggregate appends a failed, timed-out
 * completion unless the job already has its status.
 */
export function jobTimeoutsWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'job-timeouts',
    stream: 'JOBS',
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'job-timeout') return
      const job = event.data.payload
      if (!payloadCheck.Check(job)) throw new Error(`job-timeout timer ${event.data.timerId} carries no job`)
      await handleCommand(deps, jobAggregate, job.eventId, { kind: 'timeOut', eventId: job.eventId }, {
        source: '/jetway/workers/job-timeouts',
        idempotencyKey: `timeout:${job.eventId}`,
        causationId: event.id
      })
    }
  }
}
