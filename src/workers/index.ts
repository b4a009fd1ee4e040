import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Config } from '../config.js'
import type { Clock } from '../time.js'
import { completionWorker } from './completion.js'
import { jobSimulatorWorker } from './job-simulator.js'
import { jobTimeoutsWorker } from './job-timeouts.js'
import type { Worker } from './worker.js'

/** Every worker this build runs with the `workers` role. */
export function workers (config: Config, deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker[] {
  return [
    completionWorker(deps),
    jobTimeoutsWorker(deps),
    ...(config.jobs.simulator ? [jobSimulatorWorker(deps)] : [])
  ]
}
