import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Config } from '../config.js'
import type { Clock } from '../lib/time.js'
import { completionWorker } from './completion.js'
import { jobSimulatorWorker } from './job-simulator.js'
import { jobTimeoutsWorker } from './job-timeouts.js'
import { defaultRetry, type Worker } from './worker.js'
import type { Logger } from 'pino'
import { meetingNotifierWorker } from './meeting-notifier.js'
import { notificationServiceWorker } from './notification-service.js'
import { reminderSchedulerWorker } from './reminder-scheduler.js'
import { taskNotifierWorker } from './task-notifier.js'
import { taskTimeoutsWorker } from './task-timeouts.js'
import { scheduleTickerWorker } from './schedule-ticker.js'
import { taskSecret } from '../lib/task-tokens.js'
import { taskCallbacksWorker } from './task-callbacks.js'
import type { Outbound } from '../lib/outbound.js'
import { relayDeliveryWorker } from './relay-delivery.js'
import { relayTimersWorker } from './relay-timers.js'
import { keepFinishedWorker } from './keep-finished.js'
import { erasureWorker } from './erasure.js'
import type { DB } from '../projections/db.js'
import type { ReadModels } from '../projections/checkpoints.js'
import type { UserKeys } from '../lib/erasure-key.js'

/** Every worker this build runs with the `workers` role. */
export function workers (config: Config, deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, log: Logger, outbound: Outbound, db: DB, readModels: ReadModels, keys: UserKeys }): Worker[] {
  const relay = { ...deps, relay: config.relay, webhookSecret: config.outbound.webhookSecret }
  const all: Worker[] = [
    completionWorker(deps),
    jobTimeoutsWorker(deps),
    ...(config.jobs.simulator ? [jobSimulatorWorker(deps)] : []),
    meetingNotifierWorker({ ...deps, publicUrl: config.publicUrl }),
    reminderSchedulerWorker({ ...deps, publicUrl: config.publicUrl }),
    notificationServiceWorker({ ...deps, smtpUrl: config.mail.smtpUrl, from: config.mail.from, retry: defaultRetry(config.workers.maxDeliver, config.workers.backoffMs) }),
    taskNotifierWorker({ ...deps, publicUrl: config.publicUrl, secret: taskSecret(config) }),
    taskTimeoutsWorker(deps),
    scheduleTickerWorker({ ...deps, graceMs: config.tasks.scheduleGraceMs, defaultTimeoutMs: config.tasks.timeoutMs }),
    // the runtime's one outbound client (deps.outbound): one connection pool for every sender
    taskCallbacksWorker({ ...deps, signed: config.outbound.webhookSecret !== undefined, policy: config.tasks.callback }),
    relayDeliveryWorker(relay),
    relayTimersWorker(relay),
    erasureWorker(deps),
    // KEEP_FINISHED: one per aggregate stream, purging what its expiry timers name
    ...(config.keepFinishedMs === undefined ? [] : ['JOBS', 'TASKS', 'MEETINGS', 'RELAY'].map(stream => keepFinishedWorker(stream, { ...deps, keepMs: config.keepFinishedMs! })))
  ]
  const { ackWaitMs } = config.workers
  return ackWaitMs === undefined ? all : all.map(worker => ({ ...worker, ackWaitMs }))
}
