import { parentPort, workerData } from 'node:worker_threads'
import type { Config } from '../config.js'
import { openDatabase } from './db.js'
import { projectionsFor } from './index.js'
import { applyBatch, type FromWriter, type ToWriter } from './committer.js'

// The SQLite writer thread (started by committer.ts in the projection thread): commits the
// batches the runners send, one at a time, in the order they arrive, on its own connection.

const port = parentPort!
const post = (m: FromWriter): void => port.postMessage(m)
const { config } = workerData as { config: Config }
const db = await openDatabase(config.dbFile)
const projections = new Map(projectionsFor(config).map(p => [p.name, p]))
let queue = Promise.resolve()

port.on('message', (m: ToWriter) => {
  if ('close' in m) {
    queue = queue.then(async () => { await db.destroy(); port.close() })
    return
  }
  queue = queue.then(async () => {
    const projection = projections.get(m.batch.projection)
    if (projection === undefined) { post({ id: m.id, error: `no projection named ${m.batch.projection}` }); return }
    try {
      post({ id: m.id, ok: await applyBatch(db, projection, m.batch) })
    } catch (err) {
      post({ id: m.id, error: (err as Error).message })
    }
  })
})
post({ ready: true })
