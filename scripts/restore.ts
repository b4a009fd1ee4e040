// npm run restore -- --from DIR: every stream of a backup (npm run backup) into a nats-server
// that has none of them, sequences and durable consumers' positions as they were. Refuses, and
// restores nothing, when the server has any of those streams but ERASURES, whose own copy it keeps. NATS_URL, else the embedded server
// on NATS_PORT of a running `npm start`, else DATA_DIR/nats (started for it). Start Jetway
// afterwards with an empty DATA_DIR (or `npm run rebuild` each read model): it rebuilds them.
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { SingleBar, Presets } from 'cli-progress'
import { loadConfigOrExit } from '../src/config.js'
import { opsConnection } from '../src/store/ops-connection.js'
import { backupBytes, restoreFiles, restoreStreams } from '../src/store/backup.js'
import { formatBytes } from '../src/lib/bytes.js'

const usage = 'usage: npm run restore -- --from DIR   (a directory npm run backup wrote)'
let from: string | undefined
try {
  from = parseArgs({ options: { from: { type: 'string' }, help: { type: 'boolean' } } }).values.from
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(1)
}
if (from === undefined) {
  console.error(usage)
  process.exit(1)
}
const fromDir = resolve(from)
const config = loadConfigOrExit()
const t0 = Date.now()
let ops: Awaited<ReturnType<typeof opsConnection>> | undefined
const bar = new SingleBar({ format: 'restore [{bar}] {percentage}% | {stream} | {sent} of {size} | {eta}s left' }, Presets.shades_classic)
let started = false
try {
  const total = await backupBytes(fromDir)
  ops = await opsConnection(config, 'jetway-restore')
  // bytes of the streams restored before the current one
  let base = 0
  let current = { stream: '', bytes: 0 }
  const restored = await restoreStreams({
    nc: ops.nc,
    jsm: ops.jsm,
    fromDir,
    progress: p => {
      if (!started) { bar.start(total, 0, { stream: p.stream, sent: '', size: formatBytes(total) }); started = true }
      if (p.stream !== current.stream) { base += current.bytes; current = { stream: p.stream, bytes: 0 } }
      current.bytes = p.fileBytes
      bar.update(Math.min(total, base + p.fileBytes), { stream: p.stream, sent: formatBytes(base + p.fileBytes), size: formatBytes(total) })
    }
  })
  if (started) { bar.update(total); bar.stop() }
  for (const f of await restoreFiles(fromDir, config.dataDir)) {
    if (f.outcome === 'restored') console.error(`${f.name} restored into ${config.dataDir}`)
    if (f.outcome === 'differs') console.error(`${config.dataDir}/${f.name} differs from the backup's and is left as it is: task and approval tokens issued before the backup will not verify with it`)
  }
  if (config.tasks.tokenSecret !== undefined) console.error('TASK_TOKEN_SECRET is set: task and approval tokens verify with it, as they did if it was set when they were issued')
  for (const r of restored) if (r.kept === true) console.error(`${r.name}: the server's own stream is kept, not the backup's (its erasures are newer; every start applies them again)`)
  for (const r of restored) if (r.skipped > 0) console.error(`${r.name}: ${r.skipped} sequences skipped so that no consumer stands past the stream's end (a write during the backup)`)
  const written = restored.filter(r => r.kept !== true)
  const messages = written.reduce((n, s) => n + s.messages, 0)
  const bytes = written.reduce((n, s) => n + s.bytes, 0)
  console.log(`restore: ${written.length} streams, ${messages} messages, ${bytes} bytes, ${((Date.now() - t0) / 1000).toFixed(1)} seconds <- ${fromDir}`)
} catch (err) {
  if (started) bar.stop()
  console.error(`restore failed: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await ops?.close()
}
