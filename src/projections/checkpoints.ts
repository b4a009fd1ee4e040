import type { JetStreamManager } from '@nats-io/jetstream'
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../schema/database.js'
import type { DB } from './db.js'
import type { Projection } from './projection.js'
import type { RunnerHandle } from './host.js'
import type { CheckpointListener } from './checkpoint-listener.js'

// Where each read model stands, as its database says: the checkpoint (last stream sequence
// applied) and whether a rebuild is refilling it. Reads and readiness look here rather than at
// a runner's memory, so they are right in every role split: an `api`-only process has no runner
// and reads the checkpoints a `projections` process commits to the shared DATA_DIR (or the
// shared PostgreSQL, where another instance of a fleet may be the one applying the events), and
// a rebuild run by another process shows up here at once.

/** A projection's checkpoint (the last stream sequence applied), read in a transaction of its own. */
export async function appliedSeqOf (db: Kysely<Database> | Transaction<Database>, name: string): Promise<number> {
  const row = await db.selectFrom('projection_checkpoints').select('last_seq').where('name', '=', name).executeTakeFirst()
  return row?.last_seq ?? 0
}

export interface CheckpointState {
  name: string
  stream: string
  appliedSeq: number
  rebuilding: boolean
}

export interface ReadModelsOptions {
  db: DB
  jsm: JetStreamManager
  projections: Projection[]
  /** this process's runners, whose commits wake waiting reads at once */
  runners: Map<string, RunnerHandle>
  /** how often waiting reads look at the checkpoints when nothing here wakes them */
  pollMs?: number
  /** PostgreSQL: the announced checkpoint changes, whoever commits them */
  listener?: CheckpointListener
}

export type WaitResult = { ok: true, state: CheckpointState } | { ok: false, state: CheckpointState }

export class ReadModels {
  readonly projections: Projection[]
  private readonly opts: ReadModelsOptions
  private readonly ends = new Map<string, number>()
  private readonly cached = new Map<string, { stamp: string, state: CheckpointState }>()
  private tick?: Promise<void>

  constructor (opts: ReadModelsOptions) {
    this.opts = opts
    this.projections = opts.projections
  }

  byName (name: string): Projection | undefined {
    return this.projections.find(p => p.name === name)
  }

  /** The read models fed by a stream. */
  ofStream (stream: string): Projection[] {
    return this.projections.filter(p => p.stream === stream)
  }

  /** The checkpoint as the database has it now. */
  async state (name: string): Promise<CheckpointState> {
    const projection = this.byName(name)
    if (projection === undefined) throw new Error(`no projection named ${name}`)
    const row = await this.opts.db.selectFrom('projection_checkpoints').select(['last_seq', 'rebuilding'])
      .where('name', '=', name).executeTakeFirst()
    return { name, stream: projection.stream, appliedSeq: row?.last_seq ?? 0, rebuilding: row?.rebuilding === 1 }
  }

  /**
   * The checkpoint as a waiting read sees it: on PostgreSQL, the one read since its last
   * announced change (a change committed a moment ago may not be announced yet: whoever must
   * see its own change, like a rebuild, reads state()).
   */
  private async current (name: string): Promise<CheckpointState> {
    const stamp = this.opts.listener?.stamp(name)
    const cached = this.cached.get(name)
    if (stamp !== undefined && cached?.stamp === stamp) return cached.state
    const state = await this.state(name)
    // kept only if no change was announced while it was read
    if (stamp !== undefined && this.opts.listener?.stamp(name) === stamp) this.cached.set(name, { stamp, state })
    return state
  }

  async states (): Promise<CheckpointState[]> {
    const rows = await this.opts.db.selectFrom('projection_checkpoints').select(['name', 'last_seq', 'rebuilding']).execute()
    return this.projections.map(p => {
      const row = rows.find(r => r.name === p.name)
      return { name: p.name, stream: p.stream, appliedSeq: row?.last_seq ?? 0, rebuilding: row?.rebuilding === 1 }
    })
  }

  /** The stream's last sequence, asked of NATS (the stream leader); never less than seen before. */
  async streamEnd (stream: string): Promise<number> {
    const last = (await this.opts.jsm.streams.info(stream)).state.last_seq
    const end = Math.max(last, this.ends.get(stream) ?? 0)
    this.ends.set(stream, end)
    return end
  }

  /** Whether `seq` exists in the stream (asks NATS only when it is past the end seen so far). */
  async holds (stream: string, seq: number): Promise<boolean> {
    if (seq <= (this.ends.get(stream) ?? 0)) return true
    return seq <= await this.streamEnd(stream)
  }

  /**
   * Waits, at most `timeoutMs`, until the read model is current (not rebuilding) and, given a
   * sequence, has applied it. A runner in this process wakes the wait at each commit, and on
   * PostgreSQL so does any instance's commit (the listener); without either the checkpoints
   * are polled, one query per round for every waiting read.
   */
  async waitFor (name: string, seq: number | undefined, timeoutMs: number): Promise<WaitResult> {
    const deadline = Date.now() + timeoutMs
    const runner = this.opts.runners.get(name)
    const listener = this.opts.listener
    while (true) {
      const state = await this.current(name)
      if (!state.rebuilding && (seq === undefined || state.appliedSeq >= seq)) return { ok: true, state }
      const left = deadline - Date.now()
      if (left <= 0) return { ok: false, state }
      let timer: NodeJS.Timeout | undefined
      const polled = runner === undefined && listener === undefined
      await Promise.race([
        ...(polled ? [this.nextTick()] : [runner?.changed(), listener?.changed(name)].filter(p => p !== undefined)),
        // with a runner or listener here, still look now and then: a rebuild elsewhere ends
        // without the runner, and a change may go unheard while the LISTEN session reconnects
        new Promise<void>(resolve => { timer = setTimeout(resolve, Math.min(left, polled ? left : 250)) })
      ])
      clearTimeout(timer)
    }
  }

  private async nextTick (): Promise<void> {
    this.tick ??= new Promise<void>(resolve => setTimeout(() => { this.tick = undefined; resolve() }, this.opts.pollMs ?? 10))
    return await this.tick
  }
}
