import { loadConfigOrExit, startFailure } from './config.js'
import { startRuntime } from './runtime.js'
import { buildApp } from './app.js'
import { createLogger } from './lib/log.js'

// Entry point: read config, start the runtime (NATS, streams, SQLite, projections, workers),
// listen, and close everything in order on SIGINT/SIGTERM.

const config = loadConfigOrExit()
const log = createLogger({ level: config.logLevel, base: { service: 'jetway' } })
/** Ends the start: a failure a variable explains is one line naming it, any other is logged whole. */
function cannotStart (err: unknown): never {
  const line = startFailure(err, config)
  if (line !== undefined) console.error(`jetway: cannot start: ${line}`)
  else log.fatal({ err }, 'start failed')
  process.exit(1)
}
const runtime = await startRuntime(config, log).catch(cannotStart)
const app = await buildApp(runtime)
try {
  await app.listen({ port: config.port, host: config.host })
} catch (err) {
  // the nats-server child, the projection thread and the consumers stop before the exit
  await app.close().catch(() => {})
  await runtime.close().catch(() => [])
  cannotStart(err)
}
log.info({ roles: [...config.roles], auth: config.auth.mode, dataDir: config.dataDir }, 'jetway ready')

let closing = false
async function shutdown (signal: string): Promise<void> {
  if (closing) return
  closing = true
  log.info({ signal }, 'shutting down')
  const force = setTimeout(() => { log.error('shutdown took over 15s; exiting'); process.exit(1) }, 15_000)
  await app.close()
  await runtime.close()
  clearTimeout(force)
  log.info('bye')
  process.exit(0)
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    shutdown(signal).catch((err: unknown) => { log.fatal({ err }, 'shutdown failed'); process.exit(1) })
  })
}
