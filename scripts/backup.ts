// npm run backup -- --out DIR: a backup of every Jetway stream with its durable consumers, taken
// with JetStream's snapshot API while the service runs (src/store/backup.ts). NATS_URL, else the
// embedded server on NATS_PORT of a running `npm start`, else DATA_DIR/nats (started for it).
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { SingleBar, Presets } from 'cli-progress'
import { loadConfigOrExit } from '../src/config.js'
import { loadStreamConfigs } from '../src/store/streams.js'
import { opsConnection } from '../src/store/ops-connection.js'
import { backupStreams } from '../src/store/backup.js'
import { formatBytes } from '../src/lib/bytes.js'

const usage = 'usage: npm run backup -- --out DIR   (DIR must not exist, or be empty)'
let out: string | undefined
try {
  out = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean' } } }).values.out
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(1)
}
if (out === undefined) {
  console.error(usage)
  process.exit(1)
}
const outDir = resolve(out)
const config = loadConfigOrExit()
const t0 = Date.now()
const ops = await opsConnection(config, 'jetway-backup')
const names = (await loadStreamConfigs(config)).map(c => c.name)
const bar = new SingleBar({ format: 'backup [{bar}] {value}/{total} streams | {stream} {received} | {duration}s' }, Presets.shades_classic)
let started = false
try {
  const manifest = await backupStreams({
    nc: ops.nc,
    jsm: ops.jsm,
    streams: names,
    outDir,
    // task and approval tokens out in the world verify only with the secret that signed them
    files: config.tasks.tokenSecret === undefined ? [join(config.dataDir, 'task-token.secret')] : [],
    progress: p => {
      if (!started) { bar.start(p.of, 0, { stream: p.stream, received: '' }); started = true }
      bar.update(p.index, { stream: p.stream, received: formatBytes(p.fileBytes) })
    }
  })
  if (started) { bar.update(manifest.streams.length, { stream: '', received: '' }); bar.stop() }
  const messages = manifest.streams.reduce((n, s) => n + s.messages, 0)
  const bytes = manifest.streams.reduce((n, s) => n + s.bytes, 0)
  const files = manifest.streams.reduce((n, s) => n + s.fileBytes, 0)
  if (manifest.files?.includes('task-token.secret') === true) console.error('the backup holds DATA_DIR/task-token.secret (the secret of task and approval tokens): keep it as safe as the data')
  if (manifest.missing.length > 0) console.error(`not on the server, not backed up: ${manifest.missing.join(', ')}`)
  console.log(`backup: ${manifest.streams.length} streams, ${messages} messages, ${bytes} bytes (${formatBytes(files)} of files), ${((Date.now() - t0) / 1000).toFixed(1)} seconds -> ${outDir}`)
} catch (err) {
  if (started) bar.stop()
  console.error(`backup failed: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await ops.close()
}
