import type { JetStreamClient } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Clock } from '../lib/time.js'
import type { DB } from './db.js'
import { ProjectionRunner } from './runner.js'
import { projectionsFor } from './index.js'
import { TimerTicker } from './timer-ticker.js'
import { RetentionFollower } from './retention.js'
import type { UserKeys } from '../lib/erasure-key.js'
import { ErasurePurger, reapplyErasures } from './erasure-enforcer.js'
import { ownLease, projectionLease } from './projection-lease.js'

// Where the projections (and the timer ticker, which fires from their timers read model) run:
// by default in a worker thread of their own (thread-host.ts), so that their SQLite
// transactions and NATS consumers use the second core instead of the HTTP event loop; in this
// thread with PROJECTIONS_THREAD=off or a test clock. The rest of the process sees the same
// handles either way.

/** A projection's runner as the rest of the process sees it, wherever it runs. */
export interface RunnerHandle {
  readonly name: string
  readonly appliedSeq: number
  readonly pending: number
  readonly caughtUp: boolean
  readonly rebuilding: boolean
  /** this process applies the projection (always with SQLite; the lease's holder on a shared PostgreSQL) */
  readonly holding: boolean
  /** resolves at the runner's next commit or state change */
  changed: () => Promise<void>
  waitFor: (seq: number, timeoutMs: number) => Promise<boolean>
  start: () => Promise<void>
  stop: () => Promise<void>
  reset: (opts?: { rebuilding?: boolean }) => Promise<void>
}

export interface TickerStats {
  fired: number
  lastFireLagMs: number
}

export interface ProjectionHost {
  runners: Map<string, RunnerHandle>
  ticker: TickerStats | undefined
  /** 'main', or the worker thread's name and id: what /metrics and the logs show */
  thread: string
  close: () => Promise<void>
}

export interface HostDeps {
  config: Config
  js: JetStreamClient
  db: DB
  log: Logger
  clock: Clock
  /** the erasure key's hash of user ids (the erasures read model applies erasures with it) */
  keys: UserKeys
  /** sees each runner's state change (the projection thread reports them to the HTTP thread) */
  onChange?: (runner: ProjectionRunner) => void
  /** sees each timer fired */
  onFired?: (lateMs: number) => void
}

/**
 * Starts every projection's runner, then the timer ticker and the retention follower (read
 * models follow their streams' retention), in this thread. On a PostgreSQL shared by a fleet
 * each runner applies its projection only while it holds its lease.
 */
export async function startProjectionsHere ({ config, js, db, log, clock, keys, onChange, onFired }: HostDeps): Promise<ProjectionHost> {
  const lease = projectionLease(db, config.projectionTakeoverMs, log)
  const runners = new Map<string, ProjectionRunner>()
  const projections = projectionsFor(config, keys)
  for (const projection of projections) {
    runners.set(projection.name, new ProjectionRunner({ projection, js, db, log, clock, onChange, lease }))
  }
  for (const runner of runners.values()) await runner.start()
  // Timers fire where their read model is kept current: with the projections (on a shared
  // PostgreSQL, where the timer projection is held), and only once the timers read models have
  // caught up after the start (a row whose clearing event was purged while this instance was
  // away must not fire from a stale table).
  const timerModels = [...runners.values()].filter(r => r.name.startsWith('timers-'))
  const firing = lease === ownLease ? undefined : () => [...runners.values()].filter(r => r.holding).map(r => r.name)
  const ticker = new TimerTicker({ db, js, clock, log, tickMs: config.timerTickMs, onFired, firing, ready: () => timerModels.every(r => r.caughtUp) })
  ticker.start()
  const jsm = await js.jetstreamManager()
  const retained = new Set(Object.keys(config.retention))
  const follower = new RetentionFollower({ db, jsm, projections: projections.filter(p => retained.has(p.stream)), log, tickMs: config.timerTickMs })
  follower.start()
  // once every read model has caught up: the erasures applied again (a restored older backup
  // brings nothing back), and what an erased user's dropped rows came from purged again
  const erasureLog = log.child({ component: 'erasures' })
  const purger = new ErasurePurger({ db, jsm, log: erasureLog, tickMs: config.timerTickMs })
  purger.start()
  const state = { closing: false }
  const enforced = (async () => {
    while (!state.closing && ![...runners.values()].every(r => r.caughtUp)) await new Promise(resolve => setTimeout(resolve, 100))
    if (!state.closing) await reapplyErasures({ db, keys, log: erasureLog })
  })().catch((err: unknown) => log.error({ err }, 'applying the erasures again failed; they are applied at the next start'))
  return {
    runners,
    ticker,
    thread: 'main',
    close: async () => {
      state.closing = true
      await enforced
      await purger.stop()
      await follower.stop()
      await ticker.stop()
      await Promise.all([...runners.values()].map(async r => await r.stop()))
      await lease.close()
    }
  }
}

/** The runners without starting them (a script that drives its own, like `npm run rebuild`). */
export function idleProjections ({ config, js, db, log, clock, keys }: HostDeps): ProjectionHost {
  const runners = new Map<string, RunnerHandle>()
  for (const projection of projectionsFor(config, keys)) {
    runners.set(projection.name, new ProjectionRunner({ projection, js, db, log, clock }))
  }
  return { runners, ticker: undefined, thread: 'main', close: async () => {} }
}
