import type { Logger } from 'pino'
import type { DB } from '../../projections/db.js'
import { suppressedKeys } from '../../projections/erasures.js'
import { appliedSeqOf } from '../../projections/checkpoints.js'
import type { UserKeys } from '../../lib/erasure-key.js'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'

export interface SuppressionsOptions {
  db: DB
  keys: UserKeys
  log: Logger
  /** how often the suppressions read model is read again (another instance's erasures) */
  refreshMs: number
}

/** How often an instance reads the suppressions again: others' erasures reach its API this late at most. */
export const SUPPRESSION_REFRESH_MS = 1000

/** Remembered user ids, per answer, so a busy user costs one HMAC now and then, not one per request. */
const MEMO = 10_000

/**
 * The users whose writes are refused (erased with ?suppress=true, until their suppression is
 * lifted), by keyed hash: the suppressions read model, kept in memory and read again every
 * `refreshMs`; this instance's own suppressions and lifts count at once. With none, a check
 * costs nothing.
 */
export class Suppressions {
  private readonly opts: SuppressionsOptions
  private keys = new Set<string>()
  private readonly memo = new Map<string, boolean>()
  /** this instance's own suppressions and lifts, by the ERASURES sequence of their event, until the read model has applied it */
  private readonly pending = new Map<string, { suppressed: boolean, seq: number }>()
  private timer?: NodeJS.Timeout

  constructor (opts: SuppressionsOptions) {
    this.opts = opts
  }

  async start (): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.opts.log.error({ err }, 'could not read the suppressions; keeping the last known'))
    }, this.opts.refreshMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  async refresh (): Promise<void> {
    const [keys, applied] = await Promise.all([suppressedKeys(this.opts.db), appliedSeqOf(this.opts.db, 'erasures')])
    // a note stands over what the read model says until the read model has applied its event
    for (const [key, note] of this.pending) if (note.seq <= applied) this.pending.delete(key)
    this.set(this.withPending(new Set(keys)))
  }

  /**
   * This instance suppressed (or lifted) a user key by the event at ERASURES sequence `seq`:
   * true at once, and kept over every refresh until the read model has applied that event.
   */
  note (userKey: string, suppressed: boolean, seq: number): void {
    this.pending.set(userKey, { suppressed, seq })
    this.set(this.withPending(new Set(this.keys)))
  }

  private withPending (keys: Set<string>): Set<string> {
    for (const [key, note] of this.pending) {
      if (note.suppressed) keys.add(key)
      else keys.delete(key)
    }
    return keys
  }

  isSuppressed (userId: string): boolean {
    if (this.keys.size === 0) return false
    let answer = this.memo.get(userId)
    if (answer === undefined) {
      answer = this.keys.has(this.opts.keys.of(userId))
      if (this.memo.size >= MEMO) this.memo.clear()
      this.memo.set(userId, answer)
    }
    return answer
  }

  /** Throws the 409 a suppressed user's write gets. */
  refuse (userId: string, field: string): void {
    if (!this.isSuppressed(userId)) return
    throw new JetwayError(ErrorCodes.suppressed,
      `user ${userId} was erased and is suppressed: writes for this user are refused until an admin lifts it (DELETE /api/suppressions/{userId})`,
      [{ field, message: 'names a suppressed user' }])
  }

  private set (keys: Set<string>): void {
    const changed = keys.size !== this.keys.size || [...keys].some(k => !this.keys.has(k))
    this.keys = keys
    if (changed) this.memo.clear()
  }
}
