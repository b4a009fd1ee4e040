import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import type { UserKeys } from '../lib/erasure-key.js'
import type { ErasedKind } from '../schema/events/erasures.js'
import { purgeSubjects } from '../store/purge.js'
import { TickLoop } from '../lib/tick-loop.js'
import { doneErasures, dropErasedEvents, dropErasedRecords, forgetPurge, notedPurges } from './erasures.js'

// Erasures applied again, so that nothing of an erased user comes back (README, Data lifecycle).
// Two parts, both per instance, beside the projections:
// - reapplyErasures, once per start after every read model has caught up: each erasure that is
//   done drops its rows again. Normally there are none; after a restore of a backup older than
//   an erasure, the replayed read models hold the user's data again.
// - ErasurePurger, every tick: wherever an erasure's rows were dropped (by the erasures read
//   model, or by reapplyErasures) their subjects were noted; it purges them from the streams
//   (idempotent: normally the executor purged them already) and forgets them.

/** Drops every done erasure's rows again; resolves the rows found. */
export async function reapplyErasures (deps: { db: DB, keys: UserKeys, log: Logger }): Promise<number> {
  const { db, keys, log } = deps
  let found = 0
  for (const erasure of await doneErasures(db)) {
    const rows = await db.transaction().execute(async trx => {
      const byKind = new Map<ErasedKind, string[]>()
      for (const item of erasure.items) byKind.set(item.kind, [...byKind.get(item.kind) ?? [], item.id])
      let n = 0
      for (const [kind, ids] of byKind) n += Object.values(await dropErasedRecords(trx, erasure.erasureId, kind, ids)).reduce((a, b) => a + b, 0)
      return n + await dropErasedEvents(trx, keys, erasure.erasureId, erasure.userKey, erasure.cutoffs)
    })
    if (rows > 0) log.warn({ erasureId: erasure.erasureId, rows }, 'data of an erased user was back (a restore of an older backup?): dropped, and purged again')
    found += rows
  }
  return found
}

export interface ErasurePurgerOptions {
  db: DB
  jsm: JetStreamManager
  log: Logger
  tickMs: number
}

/** Purges the subjects noted where an erased user's rows were dropped. */
export class ErasurePurger {
  purged = 0
  private readonly opts: ErasurePurgerOptions
  private readonly loop: TickLoop

  constructor (opts: ErasurePurgerOptions) {
    this.opts = opts
    this.loop = new TickLoop({ everyMs: opts.tickMs, tick: async () => { await this.tick(); return false }, log: opts.log, failed: 'purging erased subjects failed; trying again' })
  }

  start (): void {
    this.loop.start()
  }

  async stop (): Promise<void> {
    await this.loop.stop()
  }

  /** Purges what is noted (a batch); resolves the messages purged. */
  async tick (): Promise<number> {
    let n = 0
    for (const p of await notedPurges(this.opts.db, 500)) {
      const counts = await purgeSubjects(this.opts.jsm, [p], p.upToSeq === null ? undefined : { [p.stream]: p.upToSeq })
      n += counts[p.stream] ?? 0
      await forgetPurge(this.opts.db, p)
    }
    if (n > 0) this.opts.log.warn({ messages: n }, 'purged erased data the streams held again')
    this.purged += n
    return n
  }
}
