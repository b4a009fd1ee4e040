import type { JetStreamClient } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Kysely } from 'kysely'
import { sqliteOf, type DB } from './db.js'
import type { Database } from '../schema/database.js'
import { decodeEvent, type StoredEvent } from '../store/events.js'
import type { Clock } from '../lib/time.js'
import { microTimeOf } from '../lib/time.js'
import type { Projection } from './projection.js'
import { SequenceWatch } from '../lib/concurrency.js'
import { OrderedFollower } from '../store/ordered.js'
import { ownLease, type ProjectionLease } from './projection-lease.js'

export interface ProjectionRunnerOptions {
  projection: Projection
  js: JetStreamClient
  db: DB
  log: Logger
  clock: Clock
  batchSize?: number
  /** called after each committed batch: applied sequence and messages still pending */
  onBatch?: (appliedSeq: number, pending: number) => void
  /** called whenever what the runner reports changes (applied, caught up, rebuilding) */
  onChange?: (runner: ProjectionRunner) => void
  /**
   * 'serve' (default): the process's own runner; it pauses while a rebuild elsewhere holds the
   * projection, and takes over from a rebuild that stopped renewing its lease.
   * 'rebuild': the runner of `npm run rebuild`; it renews the lease while it runs.
   */
  mode?: 'serve' | 'rebuild'
  /** a rebuild that has not touched its checkpoint for this long is taken to be dead */
  rebuildLeaseMs?: number
  /**
   * who applies the projection when a fleet shares the read models (PostgreSQL): the runner
   * applies events only while it holds this; default: always (SQLite, a rebuild)
   */
  lease?: ProjectionLease
}

class CheckpointMoved extends Error {}
/** the checkpoint was written by a newer build of this projection (a fleet being upgraded) */
class NewerVersion extends Error {}

const LINGER_MS = 2
const REBUILD_LEASE_MS = 15_000

/**
 * Feeds one projection from its stream with an ordered consumer that starts after the stored
 * checkpoint. Each batch's rows and the new checkpoint commit in one transaction, so a crash
 * can neither apply an event twice nor skip one. The checkpoint update is conditional on the
 * previous value: if someone else (a rebuild, another instance on a shared PostgreSQL) moved it,
 * this runner restarts from there. On a shared PostgreSQL it applies events only while it holds
 * the projection's lease, and stands by otherwise (the holder's commits are its reads).
 */
export class ProjectionRunner {
  readonly name: string
  appliedSeq = 0
  pending = 0
  caughtUp = false
  /** a rebuild holds the checkpoint (its rows are being refilled): not current */
  rebuilding = false
  /** this runner holds the projection's lease: it applies the events (always, with SQLite) */
  holding = false
  private readonly opts: ProjectionRunnerOptions
  private readonly log: Logger
  private readonly batchSize: number
  private follower?: OrderedFollower
  private stopped = false
  private batch: StoredEvent[] = []
  private batchLastSeq = 0
  private batchPending = 0
  private queuedSeq = 0
  private flushing: Promise<void> = Promise.resolve()
  private lingerTimer?: NodeJS.Timeout
  private heartbeat?: NodeJS.Timeout
  private wakeUp?: () => void
  private leaseAsked?: () => void
  private readonly applied = new SequenceWatch()
  private readonly lease: ProjectionLease

  constructor (opts: ProjectionRunnerOptions) {
    this.opts = opts
    this.name = opts.projection.name
    this.log = opts.log.child({ component: 'projection', projection: this.name })
    this.batchSize = opts.batchSize ?? 1000
    this.lease = opts.mode === 'rebuild' ? ownLease : opts.lease ?? ownLease
    this.lease.onLost(name => {
      if (name !== this.name || !this.holding) return
      this.log.warn('lost the projection lease: standing by')
      this.holding = false
      this.follower?.restart()
      this.notify()
    })
  }

  private get leaseMs (): number {
    return this.opts.rebuildLeaseMs ?? REBUILD_LEASE_MS
  }

  async start (): Promise<void> {
    this.stopped = false
    if (this.opts.mode === 'rebuild') {
      // the lease: a serving runner elsewhere waits while this one keeps touching the row
      this.heartbeat = setInterval(() => { this.renewLease().catch(() => {}) }, Math.max(10, this.leaseMs / 3))
    }
    // resolves once the runner knows whether it holds the projection (at once with SQLite): a
    // new instance of a fleet reports itself ready on its first /readyz, not after a lease try
    const asked = new Promise<void>(resolve => { this.leaseAsked = resolve })
    this.follower = this.run()
    await asked
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.heartbeat)
    this.wakeUp?.()
    this.leaseAsked?.()
    await this.follower?.stop()
    if (this.holding) {
      this.holding = false
      await this.lease.release(this.name)
    }
    this.applied.close()
  }

  /** Resolves at the next commit or checkpoint reload of this runner (a read waiting on it). */
  async changed (): Promise<void> {
    return await this.applied.changed()
  }

  /** Resolves true once the projection has applied `seq`, false after `timeoutMs`. */
  async waitFor (seq: number, timeoutMs: number): Promise<boolean> {
    return await this.applied.waitFor(seq, timeoutMs)
  }

  /**
   * Drops the projection's rows and checkpoint in one transaction; a running loop restarts
   * from 0. With `rebuilding`, the checkpoint says so until the refill reaches the stream's
   * end, so that reads and readiness do not take the emptied tables for current ones.
   */
  async reset (opts: { rebuilding?: boolean } = {}): Promise<void> {
    const { db, projection, clock } = this.opts
    await db.transaction().execute(async trx => {
      await ensureCheckpoint(trx, projection, clock)
      // the checkpoint first, as commit() takes it: on PostgreSQL the two lock in one order
      // (rows first here met a holder's commit holding the checkpoint: a deadlock)
      await trx.updateTable('projection_checkpoints')
        .set({ last_seq: 0, version: projection.version, rebuilding: opts.rebuilding === true ? 1 : 0, updated_at: microTimeOf(clock.now()) })
        .where('name', '=', projection.name).execute()
      for (const table of projection.tables) await trx.deleteFrom(table).execute()
      await projection.clear?.(trx)
    })
    this.appliedSeq = 0
    this.caughtUp = false
    this.rebuilding = opts.rebuilding === true
    this.notify()
  }

  /**
   * Reads the checkpoint to resume from. A serving runner waits here while a rebuild with a
   * live lease holds the projection, and takes over (resumes from the rebuild's checkpoint,
   * which is as consistent as any) once the lease runs out.
   */
  private async loadCheckpoint (): Promise<void> {
    const { db, projection, clock } = this.opts
    while (!this.stopped) {
      await ensureCheckpoint(db, projection, clock)
      const row = await db.selectFrom('projection_checkpoints').selectAll().where('name', '=', projection.name).executeTakeFirstOrThrow()
      if (row.version > projection.version && this.lease !== ownLease) throw new NewerVersion(`${projection.name} is at version ${row.version} in the shared read models, this build has ${projection.version}`)
      if (row.version !== projection.version) {
        this.log.warn({ from: row.version, to: projection.version }, 'projection version changed: rebuilding from the stream')
        await this.reset({ rebuilding: true })
        break
      }
      this.appliedSeq = row.last_seq
      this.rebuilding = row.rebuilding === 1
      if (!this.rebuilding || this.opts.mode === 'rebuild') break
      const age = clock.now().getTime() - Date.parse(row.updated_at)
      if (age > this.leaseMs) {
        this.log.warn({ appliedSeq: row.last_seq, leaseAgeMs: age }, 'a rebuild stopped renewing its lease: taking over from its checkpoint')
        break
      }
      this.caughtUp = false
      this.notify()
      await this.pause(Math.min(1000, Math.max(10, this.leaseMs / 4)))
    }
    this.notify()
  }

  /**
   * Waits until this runner holds the projection's lease (at once unless a fleet shares the
   * read models); false when stopped first. Meanwhile it stands by: another instance applies
   * the events, so there is nothing for this one to catch up (readiness then goes by the
   * shared checkpoint's lag alone).
   */
  private async takeLease (): Promise<boolean> {
    let standingBy = false
    while (!this.stopped) {
      const held = await this.lease.tryAcquire(this.name).catch((err: unknown) => {
        this.log.warn({ err }, 'cannot ask for the projection lease; trying again')
        return false
      })
      this.leaseAsked?.()
      this.leaseAsked = undefined
      if (held) {
        this.holding = true
        if (this.lease !== ownLease) this.log.info(standingBy ? 'took the projection over' : 'holds the projection')
        this.notify()
        return true
      }
      if (!standingBy) {
        standingBy = true
        this.caughtUp = true
        this.log.info('another instance applies this projection: standing by')
        this.notify()
      }
      await this.pause(this.lease.tryEveryMs)
    }
    return false
  }

  /** sleeps `ms`, or until stop() */
  private async pause (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, ms)
      this.wakeUp = () => { clearTimeout(timer); resolve() }
    })
    this.wakeUp = undefined
  }

  private async renewLease (): Promise<void> {
    const { db, projection, clock } = this.opts
    await db.updateTable('projection_checkpoints').set({ updated_at: microTimeOf(clock.now()) })
      .where('name', '=', projection.name).where('rebuilding', '=', 1).execute()
  }

  /** Marks the rebuild done when this runner has applied the stream's end (pending 0). */
  private async finishRebuild (): Promise<void> {
    if (!this.rebuilding) return
    const { db, projection, clock } = this.opts
    await db.updateTable('projection_checkpoints').set({ rebuilding: 0, updated_at: microTimeOf(clock.now()) })
      .where('name', '=', projection.name).where('last_seq', '=', this.appliedSeq).where('rebuilding', '=', 1).execute()
    this.rebuilding = false
    this.notify()
  }

  /** The consumer loop: one ordered follower (src/store/ordered.ts) from the checkpoint. */
  private run (): OrderedFollower {
    const { js, projection } = this.opts
    let load = true
    const follower = new OrderedFollower({
      js,
      stream: projection.stream,
      filter: projection.filter,
      maxMessages: this.batchSize * 2,
      // at every (re)start: hold the projection first (at once unless a fleet shares the read
      // models; stand by meanwhile), then read where it stands
      resumeAfter: async () => {
        if (!this.holding) {
          if (!await this.takeLease()) return this.appliedSeq
          load = true
        }
        if (load) await this.loadCheckpoint()
        load = false
        return this.appliedSeq
      },
      onStart: async pending => {
        this.pending = pending
        if (this.pending === 0) {
          await this.finishRebuild()
          this.markCaughtUp()
        }
        this.batch = []
        this.batchLastSeq = this.queuedSeq = this.appliedSeq
        this.flushing = Promise.resolve()
      },
      onMessage: m => {
        try {
          this.batch.push(decodeEvent(m))
        } catch (err) {
          this.log.error({ seq: m.seq, subject: m.subject, err }, 'unreadable message skipped')
        }
        this.batchLastSeq = m.seq
        this.batchPending = m.info.pending
        if (this.batch.length >= this.batchSize) {
          return this.flush({ overlap: true })
        } else if (m.info.pending === 0 && this.lingerTimer === undefined) {
          // Caught up with the stream: commit soon, but linger briefly so that a live trickle of
          // events shares one transaction instead of paying one commit per event. (Not gated on
          // messages.getPending(): nats.js 3.4 counts the pull's status callbacks in it, so after
          // a catch-up it can stay above 0 and hold the last partial batch until the next event.)
          this.lingerTimer = setTimeout(() => { this.flush().catch(() => {}) }, LINGER_MS)
        }
      },
      // what is gathered commits when the messages end (a stop); a failed commit fails the pass
      onEnd: async () => { await this.flush() },
      onError: async err => {
        if (err instanceof CheckpointMoved) {
          this.log.info('checkpoint moved by another writer (a rebuild, or another instance): resuming from it')
          load = true
          return true
        }
        if (err instanceof NewerVersion) {
          // leave the projection to the instances of the newer build
          this.log.warn({ err }, 'a newer build applies this projection: standing by')
          this.holding = false
          this.caughtUp = true
          await this.lease.release(this.name)
          this.notify()
          return false
        }
        this.log.error({ err }, 'projection consumer failed; retrying')
        return false
      }
    })
    follower.start()
    return follower
  }

  /**
   * Commits the gathered batch after any commit still running; a failure ends the loop. With
   * `overlap` it returns once the commit before this one is done, so that one commit runs while
   * the next batch is read and decoded (on PostgreSQL the server does the writing meanwhile).
   */
  private async flush (opts: { overlap?: boolean } = {}): Promise<void> {
    clearTimeout(this.lingerTimer)
    this.lingerTimer = undefined
    // nothing new since the last hand-over (a batch may hold only skipped messages: still commit)
    if (this.batchLastSeq === this.queuedSeq) return await this.flushing
    const events = this.batch
    const lastSeq = this.queuedSeq = this.batchLastSeq
    const pending = this.batchPending
    this.batch = []
    const previous = this.flushing
    this.flushing = previous.then(async () => await this.commit(events, lastSeq, pending))
    // a failed commit ends the pass; its end (flush) answers the failure, and the loop resumes
    this.flushing.catch(() => this.follower?.restart())
    return await (opts.overlap === true ? previous : this.flushing)
  }

  private async commit (batch: StoredEvent[], lastSeq: number, pending: number): Promise<void> {
    const { db, projection, clock } = this.opts
    const previous = this.appliedSeq
    await db.transaction().execute(async trx => {
      // The checkpoint first: on PostgreSQL its row lock makes any other writer of this
      // projection (a holder that lost its lease unawares) wait here and then find it moved,
      // before either has written a row. Reaching the stream's end also ends a rebuild.
      const moved = await trx.updateTable('projection_checkpoints')
        .set({ last_seq: lastSeq, updated_at: microTimeOf(clock.now()), ...(pending === 0 ? { rebuilding: 0 } : {}) })
        .where('name', '=', projection.name).where('last_seq', '=', previous)
        .executeTakeFirst()
      if (moved.numUpdatedRows !== 1n) throw new CheckpointMoved()
      await projection.apply(trx, batch, sqliteOf(db))
    })
    this.appliedSeq = lastSeq
    this.pending = pending
    if (pending === 0) {
      this.rebuilding = false
      this.markCaughtUp()
    }
    this.opts.onBatch?.(lastSeq, pending)
    this.notify()
  }

  /** Wakes whoever waits on this runner: sequence waiters, and changed(). */
  private notify (): void {
    this.applied.notify(this.appliedSeq)
    this.opts.onChange?.(this)
  }

  private markCaughtUp (): void {
    if (!this.caughtUp) this.log.info({ appliedSeq: this.appliedSeq }, 'projection caught up')
    this.caughtUp = true
    this.opts.onChange?.(this)
  }
}

async function ensureCheckpoint (db: Kysely<Database>, projection: Projection, clock: Clock): Promise<void> {
  await db.insertInto('projection_checkpoints')
    .values({ name: projection.name, last_seq: 0, version: projection.version, updated_at: microTimeOf(clock.now()) })
    .onConflict(oc => oc.column('name').doNothing()).execute()
}
