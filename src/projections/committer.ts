import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { StoredEvent } from '../store/events.js'
import { rawOf, type DB } from './db.js'
import type { Projection } from './projection.js'

// Where a projection's batch is written: each batch's rows and its checkpoint in one SQLite
// transaction, the checkpoint moved only if it still holds the runner's previous value.
//
// Here (localCommitter): in the runner's own thread, as the tests, `npm run rebuild` and
// PROJECTIONS_THREAD=off do. In a writer thread (startWriterThread): what the projection
// thread uses. Its runners then read and decode the next batch from NATS while the writer
// commits the last one, so SQLite never waits on NATS and NATS never waits on SQLite
// (catch-up: about half of a replay's time is SQLite, the other half NATS and decoding).

export interface Batch {
  projection: string
  events: StoredEvent[]
  /** the checkpoint the runner last committed: the update applies only from there */
  previous: number
  lastSeq: number
  /** reaching the stream's end (0 pending) also ends a rebuild */
  pending: number
  /** the checkpoint's updated_at */
  at: string
}

export interface Committer {
  /** Resolves false, with nothing written, when the checkpoint was no longer at `previous`. */
  commit: (batch: Batch) => Promise<boolean>
  close: () => Promise<void>
}

/** Applies a batch in one transaction on `db`; false when the checkpoint moved. */
export async function applyBatch (db: DB, projection: Projection, batch: Batch): Promise<boolean> {
  let moved = false
  await db.transaction().execute(async trx => {
    await projection.apply(trx, batch.events, rawOf(db))
    const updated = await trx.updateTable('projection_checkpoints')
      .set({ last_seq: batch.lastSeq, updated_at: batch.at, ...(batch.pending === 0 ? { rebuilding: 0 } : {}) })
      .where('name', '=', projection.name).where('last_seq', '=', batch.previous)
      .executeTakeFirst()
    // roll the rows back too: someone else (a rebuild) moved the checkpoint
    if (updated.numUpdatedRows !== 1n) { moved = true; throw new CheckpointMovedSignal() }
  }).catch((err: unknown) => { if (!(err instanceof CheckpointMovedSignal)) throw err })
  return !moved
}

class CheckpointMovedSignal extends Error {}

export function localCommitter (db: DB, projections: Projection[]): Committer {
  const byName = new Map(projections.map(p => [p.name, p]))
  return {
    commit: async batch => await applyBatch(db, byName.get(batch.projection)!, batch),
    close: async () => {}
  }
}

export type ToWriter = { id: number, batch: Batch } | { close: true }
export type FromWriter = { ready: true } | { id: number, ok: boolean } | { id: number, error: string }

/** The writer thread (writer.ts): its own SQLite connection, every projection's apply. */
export async function startWriterThread (config: Config, log: Logger, onExit: (code: number) => void = () => {}): Promise<Committer> {
  const worker = new Worker(new URL('./writer.ts', import.meta.url), { name: 'sqlite-writer', workerData: { config } })
  const calls = new Map<number, { resolve: (ok: boolean) => void, reject: (err: Error) => void }>()
  let nextId = 0
  let failure: Error | undefined
  let closing = false
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  worker.on('message', (m: FromWriter) => {
    if (!('id' in m)) return
    const call = calls.get(m.id)
    calls.delete(m.id)
    if ('error' in m) call?.reject(new Error(m.error))
    else call?.resolve(m.ok)
  })
  worker.on('error', err => { log.error({ err }, 'the SQLite writer thread failed') })
  worker.on('exit', code => {
    // every commit still waiting fails: its runner restarts from its checkpoint
    failure = new Error(`the SQLite writer thread exited (code ${code})`)
    for (const call of calls.values()) call.reject(failure)
    calls.clear()
    if (!closing) onExit(code)
  })
  return {
    commit: async batch => {
      if (failure !== undefined) throw failure
      const id = ++nextId
      const done = new Promise<boolean>((resolve, reject) => calls.set(id, { resolve, reject }))
      worker.postMessage({ id, batch } satisfies ToWriter)
      return await done
    },
    close: async () => {
      if (failure !== undefined) return
      closing = true
      const exited = new Promise(resolve => worker.once('exit', resolve))
      worker.postMessage({ close: true } satisfies ToWriter)
      await exited
    }
  }
}
