import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { DB } from './db.js'
import type { UserKeys } from '../lib/erasure-key.js'
import type { ErasedKind } from '../schema/events/erasures.js'
import { purgeSubjects, subjectsOfUser, type UserRecords } from '../store/purge.js'
import { doneErasures, dropCollected, dropErased } from './erasures.js'

/**
 * Every start, once the read models have caught up: each erasure that is done is applied again.
 * Normally that finds nothing (the streams were purged). After a restore of a backup older than
 * an erasure (ERASURES kept, or restored from a newer backup), the user's data is back in the
 * streams and the read models replayed it: this drops those rows again and purges their
 * subjects again, so the data is not resurrected. Resolves what it found (rows and messages).
 */
export async function reapplyErasures (deps: { db: DB, jsm: JetStreamManager, keys: UserKeys, log: Logger }): Promise<{ rows: number, purged: number }> {
  const { db, jsm, keys, log } = deps
  let rows = 0
  let purged = 0
  for (const erasure of await doneErasures(db)) {
    const found: UserRecords = { userIds: [], ids: { job: [], meeting: [], task: [], schedule: [], notification: [] } }
    await db.transaction().execute(async trx => {
      const byKind = new Map<ErasedKind, string[]>()
      for (const item of erasure.items) byKind.set(item.kind, [...byKind.get(item.kind) ?? [], item.id])
      for (const [kind, ids] of byKind) {
        const removed = Object.values(await dropErased(trx, kind, ids)).reduce((a, b) => a + b, 0)
        // rows came back: the stream holds the records again; purge them all again
        if (removed > 0) found.ids[kind] = ids
        rows += removed
      }
      const collected = await dropCollected(trx, keys, erasure.userKey, erasure.cutoffs.COLLECT ?? 0)
      rows += collected.rows
      found.userIds = collected.userIds
    })
    const { whole, upToCutoff } = subjectsOfUser(found)
    if (whole.length + upToCutoff.length === 0) continue
    const counts = [await purgeSubjects(jsm, whole), await purgeSubjects(jsm, upToCutoff, erasure.cutoffs)]
    const n = counts.flatMap(c => Object.values(c)).reduce((a, b) => a + b, 0)
    purged += n
    log.warn({ erasureId: erasure.erasureId, purged: n }, 'data of an erased user was back (a restore of an older backup?): dropped and purged again')
  }
  return { rows, purged }
}
