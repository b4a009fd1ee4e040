import { join } from 'node:path'
import type { NatsConnection } from '@nats-io/transport-node'
import { closeNats, connectNats } from './store/connection.js'
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import { openDatabase, postgresOf, readModelsOf, redacted, type DB } from './projections/db.js'
import { CheckpointListener } from './projections/checkpoint-listener.js'
import { ReadPool } from './projections/read-pool.js'
import { startNatsServer, type NatsServer } from './store/nats-server.js'
import { applyStreams, jetStreamManagerOf, loadStreamConfigs } from './store/streams.js'
import { withServerFeatures } from './store/stream-features.js'
import { idleProjections, startProjectionsHere, type ProjectionHost, type RunnerHandle, type TickerStats } from './projections/host.js'
import { startProjectionThread } from './projections/thread-host.js'
import { projectionsFor } from './projections/index.js'
import { systemClock, type Clock } from './lib/time.js'
import { WorkerRunner } from './workers/runner.js'
import { workers } from './workers/index.js'
import { defaultRetry } from './workers/worker.js'
import { ReadModels } from './projections/checkpoints.js'
import { jobStatusHub, type StreamHub } from './store/hub.js'
import { taskHub, type TaskHubEvent } from './store/task-hub.js'
import { NatsStatus } from './store/nats-status.js'
import { createOutbound, type Outbound } from './lib/outbound.js'
import { within } from './lib/concurrency.js'
import { TriggerManager } from './workers/trigger-manager.js'
import { instanceId } from './lib/instance.js'
import { callbackHub } from './store/callback-hub.js'
import { EventTail } from './store/console-tail.js'
import type { StreamTail } from './store/tail.js'
import { externalDurability, type Durability } from './store/durability.js'
import { loadUserKeys, type UserKeys } from './lib/erasure-key.js'
import { Suppressions, SUPPRESSION_REFRESH_MS } from './api/http/suppressions.js'

/** Everything a Jetway process runs besides HTTP: NATS, streams, SQLite, projections, workers. */
export interface Runtime {
  config: Config
  log: Logger
  clock: Clock
  nc: NatsConnection
  /** whether NATS is connected now (from the connection's status events) */
  nats: NatsStatus
  /** what an acknowledged write survives: the embedded server's sync_interval, or the external server's */
  durability: Durability
  js: JetStreamClient
  jsm: JetStreamManager
  db: DB
  /** where searches of the collect-events read model run (read threads, or this thread) */
  reads: ReadPool
  /** one runner per projection when the `projections` role is on (here or in the projection thread) */
  projections: Map<string, RunnerHandle>
  /** the timer ticker's counts, with the `projections` role */
  ticker: TickerStats | undefined
  /** where the projections run: 'main' or the projection thread's name#id */
  projectionThread: string
  /** where each read model stands, from its checkpoint in the read models: what reads wait on, in every role */
  readModels: ReadModels
  /** stream tails with in-process fan-out for SSE, running with the `api` role */
  hubs: { jobs: StreamHub, tasks: StreamTail<TaskHubEvent>, callbacks: StreamHub }
  /** every outbound HTTP call (relay, callbacks, triggers, task callbacks) */
  outbound: Outbound
  /** the triggers' dispatchers, with the `workers` role */
  triggers: TriggerManager | undefined
  /** whole-stream tails for the console's live tail, started by its first listener (api role) */
  tail: EventTail
  /** the keyed hash that names a user in erasures and suppressions (ERASURE_KEY, or the key kept in ERASURES) */
  keys: UserKeys
  /** users whose writes are refused (erased with ?suppress=true), as this instance knows them */
  suppressions: Suppressions
  /** answers the parts that did not close within CLOSER_MS (logged too) */
  close: () => Promise<string[]>
}

export interface RuntimeOptions {
  clock?: Clock
  /** false: open everything but start no projection or worker (scripts that drive their own) */
  startProjections?: boolean
}

/** longest one part may take to close before the rest close without it */
const CLOSER_MS = 10_000

export async function startRuntime (config: Config, log: Logger, opts: RuntimeOptions = {}): Promise<Runtime> {
  const clock = opts.clock ?? systemClock
  const closers: (() => Promise<unknown>)[] = []
  const named = new Map<() => Promise<unknown>, string>()
  /** a closer that takes long is named in the log: a stuck shutdown says where it is stuck */
  const closing = (name: string, fn: () => Promise<unknown>): void => { named.set(fn, name); closers.push(fn) }
  /** Closes every part, the last started first; answers the parts that did not close in time. */
  const close = async (): Promise<string[]> => {
    const stuck: string[] = []
    for (const fn of closers.reverse()) {
      const name = named.get(fn) ?? 'a part'
      const slow = setTimeout(() => { log.warn({ closing: name }, 'still closing after 5 s') }, 5000)
      // a part that hangs (its peer gone mid-call) must not keep the rest, the NATS connection
      // last of all, from closing: that connection's close ends whatever still waits on it
      const outcome = await within(fn().catch((err: unknown) => log.error({ err, closing: name }, 'error while closing')), CLOSER_MS)
      clearTimeout(slow)
      if (outcome === 'late') {
        log.error({ closing: name }, `not closed after ${CLOSER_MS / 1000} s: closing the rest`)
        stuck.push(name)
      }
    }
    closers.length = 0
    return stuck
  }
  try {
    let natsUrl = config.natsUrl
    let durability: Durability | undefined
    if (natsUrl === undefined) {
      const server: NatsServer = await startNatsServer({ port: config.natsPort, storeDir: join(config.dataDir, 'nats'), sync: config.natsSync })
      closing('nats-server', server.stop)
      natsUrl = server.url
      durability = server.durability
      if (server.replacedPid !== undefined) log.warn({ pid: server.replacedPid }, 'stopped the nats-server a dead Jetway left running on this store')
      log.info({ url: natsUrl, storeDir: join(config.dataDir, 'nats'), durability: server.durability.mode, syncInterval: server.durability.syncInterval }, 'embedded nats-server started')
      if (server.syncWarning !== undefined) log.warn({ durability: server.durability.mode, syncInterval: server.durability.syncInterval }, server.syncWarning)
    }
    const nc = await connectNats(natsUrl, 'jetway')
    closing('nats connection', async () => await closeNats(nc))
    const nats = new NatsStatus(nc, log)
    durability ??= externalDurability(nc.info?.version ?? '', config.stream.replicas)
    log.info({ server: nc.getServer(), version: nc.info?.version }, 'connected to NATS')
    const jsm = await jetStreamManagerOf(nc, log)
    await applyStreams(jsm, withServerFeatures(await loadStreamConfigs(config), nc.info?.version ?? ''), log)
    const js = jetstream(nc)
    const keys = await loadUserKeys(config.erasureKey, js, jsm)

    const db = await openDatabase(readModelsOf(config))
    closing('read models', async () => await db.destroy())
    const postgres = postgresOf(db)
    let listener: CheckpointListener | undefined
    if (postgres !== undefined) {
      log.info({ readModels: redacted(postgres.url) }, 'read models in PostgreSQL, shared by the fleet')
      const started = listener = new CheckpointListener(postgres.url, log.child({ component: 'checkpoints' }))
      await started.start()
      closing('checkpoint listener', async () => await started.close())
    }
    const reads = new ReadPool(db, config.dbFile, config.readThreads)
    closing('read threads', async () => await reads.close())
    const outbound = createOutbound({ ...config.outbound, clock })
    closing('outbound', async () => await outbound.close())

    let triggers: TriggerManager | undefined
    let projections: ProjectionHost = { runners: new Map(), ticker: undefined, thread: 'main', close: async () => {} }
    if (config.roles.has('projections')) {
      const deps = { config, js, db, log, clock, keys }
      if (opts.startProjections === false) projections = idleProjections(deps)
      // a test's clock cannot cross into another thread
      else if (config.projectionsThread && opts.clock === undefined) projections = await startProjectionThread(config, natsUrl, log)
      else projections = await startProjectionsHere(deps)
      closing('projections', projections.close)
    }
    const readModels = new ReadModels({ db, jsm, projections: projectionsFor(config, keys), runners: projections.runners, listener })
    if (config.roles.has('workers') && opts.startProjections !== false) {
      const workerRunners = workers(config, { js, jsm, clock, log, outbound, db, readModels, keys }).map(worker => new WorkerRunner({
        worker, js, jsm, log, clock, retry: defaultRetry(config.workers.maxDeliver, config.workers.backoffMs)
      }))
      for (const runner of workerRunners) await runner.start()
      closing('workers', async () => await Promise.all(workerRunners.map(async r => await r.stop())))
      triggers = new TriggerManager({
        js,
        jsm,
        nc,
        clock,
        log,
        outbound,
        relay: config.relay,
        webhookSecret: config.outbound.webhookSecret,
        holder: instanceId(config.dataDir),
        leaseTtlMs: config.relay.leaseTtlMs
      })
      await triggers.start()
      const started = triggers
      closing('triggers', async () => await started.stop())
    }
    const suppressions = new Suppressions({ db, keys, log, refreshMs: SUPPRESSION_REFRESH_MS })
    if (config.roles.has('api') && opts.startProjections !== false) {
      await suppressions.start()
      closing('suppressions', async () => { suppressions.stop() })
    }
    const hubs = { jobs: jobStatusHub({ js, jsm, log }), tasks: taskHub({ js, jsm, log }), callbacks: callbackHub({ js, jsm, log }) }
    if (config.roles.has('api') && opts.startProjections !== false) {
      await hubs.jobs.start()
      closing('jobs hub', async () => await hubs.jobs.stop())
      await hubs.tasks.start()
      closing('tasks hub', async () => await hubs.tasks.stop())
      await hubs.callbacks.start()
      closing('callbacks hub', async () => await hubs.callbacks.stop())
    }
    const tail = new EventTail({ js, jsm, log: log.child({ component: 'tail' }) })
    closing('tail', async () => await tail.close())
    const host = projections
    return {
      config,
      log,
      clock,
      nc,
      nats,
      durability,
      js,
      jsm,
      db,
      reads,
      projections: host.runners,
      ticker: host.ticker,
      readModels,
      hubs,
      outbound,
      triggers,
      tail,
      keys,
      suppressions,
      close,
      get projectionThread () { return host.thread }
    }
  } catch (err) {
    await close()
    throw err
  }
}
