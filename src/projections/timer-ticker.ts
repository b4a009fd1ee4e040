import type { JetStreamClient } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import { dueTimers } from './timers.js'
import { mapLimit } from '../lib/concurrency.js'
import { TickLoop } from '../lib/tick-loop.js'
import { VersionConflict } from '../lib/errors.js'
import type { Clock } from '../lib/time.js'
import { appendEvent } from '../store/events.js'
import { Subjects } from '../store/subjects.js'
import { Events } from '../schema/events/index.js'
import type { TimerKind } from '../schema/events/timers.js'
import type { TimerRow } from '../schema/database.js'

export interface TimerTickerOptions {
  db: DB
  js: JetStreamClient
  clock: Clock
  log: Logger
  /** how often it looks for due timers */
  tickMs: number
  /** rows fired per look */
  batch?: number
  /** observes each firing: how late it was (ms) */
  onFired?: (lateMs: number) => void
  /** false while the timers read models are not current yet (catching up after a start): nothing fires */
  ready?: () => boolean
  /**
   * the timer projections whose rows this instance fires; undefined: all (SQLite: each instance
   * has its own rows). On a PostgreSQL shared by a fleet, the holder of a timer projection fires
   * its timers, so the instances do not all race to fire the same rows.
   */
  firing?: () => string[]
}

const IN_FLIGHT = 64
/** how long a fired timer is skipped while the projection has not yet removed its row */
const FORGET_MS = 30_000

/**
 * One per instance: every tick, fires what is due in the timers read model. A firing is one
 * timer.fired appended to timer.<stream>.<timerId>.<setSeq> expecting that subject to be empty,
 * so an arming fires once, whatever the number of instances, restarts or duplicate windows:
 * the loser of a race gets "wrong last sequence" and moves on. The effect's worker consumes
 * timer.fired and re-checks current state.
 */
export class TimerTicker {
  fired = 0
  /** how late (ms after its due time) the last timer this process fired was fired */
  lastFireLagMs = 0
  private readonly opts: TimerTickerOptions
  private readonly log: Logger
  private readonly recent = new Map<string, number>()
  private readonly loop: TickLoop

  constructor (opts: TimerTickerOptions) {
    this.opts = opts
    this.log = opts.log.child({ component: 'timer-ticker' })
    const batch = opts.batch ?? 512
    // a full batch: more are due, look again at once
    this.loop = new TickLoop({ everyMs: opts.tickMs, tick: async () => await this.tick(batch) === batch, log: this.log, failed: 'timer tick failed; trying again' })
  }

  start (): void {
    this.loop.start()
  }

  async stop (): Promise<void> {
    await this.loop.stop()
  }

  /** Fires the due timers not fired lately; resolves with how many rows were due. */
  async tick (batch: number): Promise<number> {
    if (this.opts.ready?.() === false) return 0
    const now = this.opts.clock.now().getTime()
    for (const [key, at] of this.recent) if (now - at > FORGET_MS) this.recent.delete(key)
    const rows = await dueTimers(this.opts.db, now, batch + this.recent.size, this.opts.firing?.())
    const due = rows.filter(r => !this.recent.has(keyOf(r))).slice(0, batch)
    await mapLimit(due, IN_FLIGHT, async row => { await this.fire(row, now) })
    return due.length
  }

  private async fire (row: TimerRow, now: number): Promise<void> {
    try {
      const appended = await appendEvent(this.opts.js, {
        def: Events.timerFired,
        data: { timerId: row.timer_id, kind: row.kind as TimerKind, dueAt: new Date(row.due_at).toISOString(), setSeq: row.set_seq, payload: JSON.parse(row.payload) },
        subject: Subjects.timerFired(row.stream, row.timer_id, row.set_seq),
        source: '/jetway/timers',
        about: row.timer_id,
        idempotencyKey: `timer:${row.stream}:${row.timer_id}:${row.set_seq}`,
        expectLastSubjectSeq: 0,
        time: this.opts.clock.now()
      })
      // inside the duplicate window a racing instance's append comes back as a duplicate, not a conflict
      if (!appended.duplicate) {
        this.fired++
        this.lastFireLagMs = now - row.due_at
        this.opts.onFired?.(now - row.due_at)
      }
    } catch (err) {
      // another instance (or this one before a restart) fired this arming already
      if (!(err instanceof VersionConflict)) throw err
    }
    this.recent.set(keyOf(row), now)
  }
}

function keyOf (row: TimerRow): string {
  return `${row.timer_id}\n${row.set_seq}`
}
