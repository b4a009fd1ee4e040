import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import { decodeEvent, type StoredEvent } from '../store/events.js'
import type { Clock } from '../lib/time.js'
import { microTimeOf } from '../lib/time.js'
import type { Projection } from './projection.js'

export interface ProjectionRunnerOptions {
  projection: Projection
  js: JetStreamClient
  db: DB
  log: Logger
  clock: Clock
  batchSize?: number
  /** called after each committed batch: applied sequence and messages still pending */
  onBatch?: (appliedSeq: number, pending: number) => void
}

class CheckpointMoved extends Error {}

const LINGER_MS = 2

/**
 * Feeds one projection from its stream with an ordered consumer that starts after the stored
 * checkpoint. Each batch's rows and the new checkpoint commit in one SQLite transaction, so a
 * crash can neither apply an event twice nor skip one. The checkpoint update is conditional on
 * the previous value: if someone else (a rebuild) moved it, this runner restarts from there.
 */
export class ProjectionRunner {
  readonly name: string
  appliedSeq = 0
  pending = 0
  caughtUp = false
  private readonly opts: ProjectionRunnerOptions
  private readonly log: Logger
  private readonly batchSize: number
  private messages?: ConsumerMessages
  private stopped = false
  private loop?: Promise<void>
  private waiters: { seq: number, resolve: (ok: boolean) => void }[] = []
  private batch: StoredEvent[] = []
  private batchLastSeq = 0
  private batchPending = 0
  private queuedSeq = 0
  private flushing: Promise<void> = Promise.resolve()
  private lingerTimer?: NodeJS.Timeout

  constructor (opts: ProjectionRunnerOptions) {
    this.opts = opts
    this.name = opts.projection.name
    this.log = opts.log.child({ component: 'projection', projection: this.name })
    this.batchSize = opts.batchSize ?? 1000
  }

  async start (): Promise<void> {
    this.stopped = false
    await this.loadCheckpoint()
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    // stop(), not close(): close() resolves only once the for-await loop has run the stop
    this.messages?.stop()
    await this.loop
    for (const w of this.waiters) w.resolve(false)
    this.waiters = []
  }

  /** Resolves true once the projection has applied `seq`, false after `timeoutMs`. */
  async waitFor (seq: number, timeoutMs: number): Promise<boolean> {
    if (this.appliedSeq >= seq) return true
    return await new Promise(resolve => {
      const waiter = { seq, resolve }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== waiter)
        resolve(false)
      }, timeoutMs)
      waiter.resolve = ok => { clearTimeout(timer); resolve(ok) }
      this.waiters.push(waiter)
    })
  }

  /** Drops the projection's rows and checkpoint in one transaction; a running loop restarts from 0. */
  async reset (): Promise<void> {
    const { projection } = this.opts
    await this.opts.db.transaction().execute(async trx => {
      for (const table of projection.tables) await trx.deleteFrom(table).execute()
      await projection.clear?.(trx)
      await trx.updateTable('projection_checkpoints')
        .set({ last_seq: 0, version: projection.version, updated_at: microTimeOf(this.opts.clock.now()) })
        .where('name', '=', projection.name).execute()
    })
    this.appliedSeq = 0
    this.caughtUp = false
  }

  private async loadCheckpoint (): Promise<void> {
    const { db, projection, clock } = this.opts
    await db.insertInto('projection_checkpoints')
      .values({ name: projection.name, last_seq: 0, version: projection.version, updated_at: microTimeOf(clock.now()) })
      .onConflict(oc => oc.column('name').doNothing()).execute()
    const row = await db.selectFrom('projection_checkpoints').selectAll().where('name', '=', projection.name).executeTakeFirstOrThrow()
    if (row.version !== projection.version) {
      this.log.warn({ from: row.version, to: projection.version }, 'projection version changed: rebuilding from the stream')
      await this.reset()
      return
    }
    this.appliedSeq = row.last_seq
  }

  private async run (): Promise<void> {
    let backoff = 100
    while (!this.stopped) {
      try {
        await this.consume()
        backoff = 100
      } catch (err) {
        if (this.stopped) break
        if (err instanceof CheckpointMoved) {
          this.log.info('checkpoint moved by another writer (rebuild?): resuming from it')
          await this.loadCheckpoint()
          continue
        }
        this.log.error({ err }, 'projection consumer failed; retrying')
        await new Promise(resolve => setTimeout(resolve, backoff))
        backoff = Math.min(backoff * 2, 5000)
      }
    }
  }

  private async consume (): Promise<void> {
    const { js, projection } = this.opts
    const consumer = await js.consumers.get(projection.stream, {
      filter_subjects: projection.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.appliedSeq + 1
    })
    const info = await consumer.info()
    this.pending = info.num_pending
    if (this.pending === 0) this.markCaughtUp()
    this.messages = await consumer.consume({ max_messages: this.batchSize * 2 })
    if (this.stopped) this.messages.stop()
    this.batch = []
    this.batchLastSeq = this.queuedSeq = this.appliedSeq
    this.flushing = Promise.resolve()
    try {
      for await (const m of this.messages) {
        try {
          this.batch.push(decodeEvent(m))
        } catch (err) {
          this.log.error({ seq: m.seq, subject: m.subject, err }, 'unreadable message skipped')
        }
        this.batchLastSeq = m.seq
        this.batchPending = m.info.pending
        if (this.batch.length >= this.batchSize) {
          await this.flush()
        } else if (m.info.pending === 0 && this.messages.getPending() === 0 && this.lingerTimer === undefined) {
          // Caught up with the stream: commit soon, but linger briefly so that a live trickle of
          // events shares one transaction instead of paying one commit per event.
          this.lingerTimer = setTimeout(() => { this.flush().catch(() => {}) }, LINGER_MS)
        }
      }
    } finally {
      this.messages.stop()
    }
    await this.flush()
  }

  /** Commits the gathered batch after any commit still running; a failure ends the loop. */
  private async flush (): Promise<void> {
    clearTimeout(this.lingerTimer)
    this.lingerTimer = undefined
    // nothing new since the last hand-over (a batch may hold only skipped messages: still commit)
    if (this.batchLastSeq === this.queuedSeq) return await this.flushing
    const events = this.batch
    const lastSeq = this.queuedSeq = this.batchLastSeq
    const pending = this.batchPending
    this.batch = []
    this.flushing = this.flushing.then(async () => await this.commit(events, lastSeq, pending))
    this.flushing.catch(() => this.messages?.stop())
    return await this.flushing
  }

  private async commit (batch: StoredEvent[], lastSeq: number, pending: number): Promise<void> {
    const { db, projection, clock } = this.opts
    const previous = this.appliedSeq
    await db.transaction().execute(async trx => {
      await projection.apply(trx, batch)
      const moved = await trx.updateTable('projection_checkpoints')
        .set({ last_seq: lastSeq, updated_at: microTimeOf(clock.now()) })
        .where('name', '=', projection.name).where('last_seq', '=', previous)
        .executeTakeFirst()
      if (moved.numUpdatedRows !== 1n) throw new CheckpointMoved()
    })
    this.appliedSeq = lastSeq
    this.pending = pending
    if (pending === 0) this.markCaughtUp()
    this.opts.onBatch?.(lastSeq, pending)
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter(w => w.seq <= lastSeq)
      this.waiters = this.waiters.filter(w => w.seq > lastSeq)
      for (const w of ready) w.resolve(true)
    }
  }

  private markCaughtUp (): void {
    if (!this.caughtUp) this.log.info({ appliedSeq: this.appliedSeq }, 'projection caught up')
    this.caughtUp = true
  }
}
