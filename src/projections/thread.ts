import { parentPort, workerData } from 'node:worker_threads'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { createLogger } from '../lib/log.js'
import { systemClock } from '../lib/time.js'
import { closeNats, connectNats } from '../store/connection.js'
import { openDatabase, readModelsOf } from './db.js'
import { loadUserKeys } from '../lib/erasure-key.js'
import { startProjectionsHere } from './host.js'
import type { FromThread, RunnerState, ThreadData, ToThread } from './thread-host.js'

// The projection thread (started by thread-host.ts): its own NATS connection and its own
// read-model connection (the SQLite writer, or a PostgreSQL pool and the lease session), every projection's runner and the timer ticker. It reports each
// runner's state and the ticker's count to the HTTP thread, and answers its calls.

const port = parentPort!
const post = (m: FromThread): void => port.postMessage(m)
const { config, natsUrl } = workerData as ThreadData

const log = createLogger({ level: config.logLevel, destination: { write: (line: string) => post({ type: 'log', line }) } })
const nc = await connectNats(natsUrl, 'jetway-projections')
const db = await openDatabase(readModelsOf(config))
const stateOf = (r: RunnerState): RunnerState => ({ name: r.name, appliedSeq: r.appliedSeq, pending: r.pending, caughtUp: r.caughtUp, rebuilding: r.rebuilding, holding: r.holding })
let fired = 0
const js = jetstream(nc)
const keys = await loadUserKeys(config.erasureKey, js, await jetstreamManager(nc))
const host = await startProjectionsHere({
  config,
  js,
  keys,
  db,
  log,
  clock: systemClock,
  onChange: runner => post({ type: 'state', state: stateOf(runner) }),
  onFired: lateMs => post({ type: 'fired', fired: ++fired, lastFireLagMs: lateMs })
})
const report = (): void => { for (const runner of host.runners.values()) post({ type: 'state', state: stateOf(runner) }) }
report()
post({ type: 'ready' })

port.on('message', (m: ToThread) => {
  if (m.type === 'close') {
    close().catch((err: unknown) => log.error({ err }, 'error while closing the projection thread'))
    return
  }
  const runner = host.runners.get(m.name)
  const done = runner === undefined
    ? Promise.reject(new Error(`no projection named ${m.name}`))
    : m.op === 'start' ? runner.start() : m.op === 'stop' ? runner.stop() : runner.reset({ rebuilding: m.rebuilding })
  done.then(() => { report(); post({ type: 'reply', id: m.id }) },
    (err: unknown) => post({ type: 'reply', id: m.id, error: (err as Error).message }))
})

async function close (): Promise<void> {
  await host.close()
  report()
  await closeNats(nc)
  await db.destroy()
  post({ type: 'closed' })
  port.close()
}
