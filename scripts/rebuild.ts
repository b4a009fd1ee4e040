// npm run rebuild -- <projection>: drop a read model and replay its stream, with a progress bar.
import { pino } from 'pino'
import { SingleBar, Presets } from 'cli-progress'
import { loadConfigOrExit } from '../src/config.js'
import { startRuntime } from '../src/runtime.js'
import { rebuildProjection } from '../src/projections/rebuild.js'
import { projectionsFor } from '../src/projections/index.js'

const name = process.argv[2]
const config = loadConfigOrExit()
if (name === undefined || name === '--help') {
  console.error(`usage: npm run rebuild -- <projection>\nprojections: ${projectionsFor(config).map(p => p.name).join(', ')}`)
  process.exit(name === undefined ? 1 : 0)
}
// Reuse the embedded server if `npm start` is running; otherwise start it for the rebuild.
if (config.natsUrl === undefined) {
  const { connect } = await import('@nats-io/transport-node')
  const url = `nats://127.0.0.1:${config.natsPort}`
  const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined)
  if (nc !== undefined) { await nc.close(); config.natsUrl = url }
}
const runtime = await startRuntime({ ...config, roles: new Set(['projections']) }, pino({ level: 'warn' }), { startProjections: false })
// Ctrl-C: stop at once; the checkpoint stays marked as rebuilding, and a running service takes
// over from it once the rebuild's lease runs out.
process.once('SIGINT', () => { runtime.close().finally(() => process.exit(130)) })
const bar = new SingleBar({ format: `${name} [{bar}] {percentage}% | {value}/{total} events | {eta_formatted} left` }, Presets.shades_classic)
let started = false
const t0 = Date.now()
try {
  const result = await rebuildProjection(runtime, name, (applied, total) => {
    if (!started) { bar.start(total, 0); started = true }
    bar.setTotal(total)
    bar.update(applied)
  })
  bar.stop()
  const seconds = (Date.now() - t0) / 1000
  console.log(`rebuilt ${name}: ${result.applied} of ${result.total} stream messages in ${seconds.toFixed(1)}s`)
} catch (err) {
  bar.stop()
  console.error(`rebuild failed: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await runtime.close()
}
