import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import type { Projection } from './projection.js'
import { appliedSeqOf } from './checkpoints.js'
import { TickLoop } from '../lib/tick-loop.js'

export interface RetentionFollowerOptions {
  db: DB
  jsm: JetStreamManager
  /** the projections of the streams that have a retention (RETENTION_<STREAM>) */
  projections: Projection[]
  log: Logger
  /** how often it asks the streams where they start: TIMER_TICK */
  tickMs: number
}

interface Pruned {
  /** the first sequence the last prune went by */
  floor: number
  /** the projection's checkpoint then: rows it applied later, below that floor, need another prune */
  appliedSeq: number
}

/**
 * Read models follow their streams: one per instance (with the projections), every tick it
 * asks each stream with a retention for its first sequence, and where that moved, each of the
 * stream's read models drops the rows built from events the stream no longer holds (its
 * prune()), in one transaction with a look at its checkpoint. So a read never answers an event
 * the stream aged out for longer than one tick. A runner that applied a message fetched just
 * before it aged out is caught by the next tick (its checkpoint was behind the floor).
 */
export class RetentionFollower {
  pruned = 0
  private readonly opts: RetentionFollowerOptions
  private readonly log: Logger
  private readonly done = new Map<string, Pruned>()
  private readonly streams: string[]
  private readonly loop: TickLoop

  constructor (opts: RetentionFollowerOptions) {
    this.opts = opts
    this.log = opts.log.child({ component: 'retention' })
    this.streams = [...new Set(opts.projections.filter(p => p.prune !== undefined).map(p => p.stream))]
    this.loop = new TickLoop({ everyMs: opts.tickMs, tick: async () => { await this.tick(); return false }, log: this.log, failed: 'retention tick failed; trying again' })
  }

  start (): void {
    if (this.streams.length > 0) this.loop.start()
  }

  async stop (): Promise<void> {
    await this.loop.stop()
  }

  /** One look at every stream with a retention; resolves the rows dropped. */
  async tick (): Promise<number> {
    let dropped = 0
    for (const stream of this.streams) {
      // a stream that aged out everything starts at its next sequence; one never written, at 0
      const floor = (await this.opts.jsm.streams.info(stream)).state.first_seq
      if (floor <= 1) continue
      for (const projection of this.opts.projections) {
        if (projection.stream !== stream || projection.prune === undefined) continue
        const before = this.done.get(projection.name)
        if (before !== undefined && before.floor >= floor && before.appliedSeq >= before.floor - 1) continue
        dropped += await this.prune(projection, floor)
      }
    }
    this.pruned += dropped
    return dropped
  }

  private async prune (projection: Projection, floor: number): Promise<number> {
    const { db } = this.opts
    const { n, appliedSeq } = await db.transaction().execute(async trx => {
      return { n: await projection.prune!(trx, floor), appliedSeq: await appliedSeqOf(trx, projection.name) }
    })
    this.done.set(projection.name, { floor, appliedSeq })
    if (n > 0) this.log.debug({ projection: projection.name, floor, rows: n }, 'rows of aged-out events dropped')
    return n
  }
}
