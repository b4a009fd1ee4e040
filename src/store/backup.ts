import { createReadStream, createWriteStream } from 'node:fs'
import { copyFile, mkdir, readFile, rename, stat, writeFile, readdir, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { once } from 'node:events'
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node'
import { JetStreamApiCodes, JetStreamApiError, jetstream, type JetStreamManager, type StreamConfig, type StreamState } from '@nats-io/jetstream'

// Backup and restore of streams with JetStream's own snapshot API, the one `nats stream backup`
// and `nats stream restore` use (jsm.go snapshots.go; nats-server jetstream_api.go):
//
//   backup:  $JS.API.STREAM.SNAPSHOT.<stream> {deliver_subject, chunk_size} answers the stream's
//            config and state; the server then sends the stream's files (an s2-compressed tar of
//            its message blocks and its consumers' state) to deliver_subject in chunks. A chunk
//            with a reply subject is acknowledged with an empty message (flow control); an empty
//            message ends it (2.10+ put a status header on it: 204 is success).
//   restore: $JS.API.STREAM.RESTORE.<stream> {config, state} answers a deliver_subject; each
//            chunk is a request to it (an empty answer is ok, '-ERR …' is not); an empty
//            request ends it and is answered with the stream's create response.
//
// What the server restores are its own files, so every message keeps its sequence, timestamp
// and headers and every durable consumer its delivered and acknowledged positions; a copy that
// republished messages would renumber them. Each stream's directory is the nats CLI's layout
// (backup.json: {config, state}; stream.tar.s2), so `nats stream restore <dir>` reads it too.

/** The stream files of one stream in a backup directory, as the nats CLI names them. */
export const STREAM_DATA_FILE = 'stream.tar.s2'
export const STREAM_META_FILE = 'backup.json'
/** What this module writes beside the streams' directories: the list, in backup order. */
export const MANIFEST_FILE = 'jetway-backup.json'
const FORMAT = 'jetway-backup/1'

const CHUNK_BYTES = 128 * 1024
/** chunks of a restore: what nats CLI sends */
const RESTORE_CHUNK_BYTES = 64 * 1024
const API_TIMEOUT_MS = 10_000
/** the server restores the staged files after the last chunk: a large stream takes a while */
const RESTORE_FINISH_MS = 30 * 60_000
/** no chunk for this long: the snapshot stalled */
const STALL_MS = 60_000

export class BackupError extends Error {
  readonly code = 'JETWAY_BACKUP'
  override name = 'BackupError'
}

export interface StreamBackup {
  name: string
  /** state when the snapshot began: everything acknowledged before is in it (and perhaps a little more) */
  messages: number
  bytes: number
  firstSeq: number
  lastSeq: number
  /** durable consumers in the stream then (their positions are in the snapshot) */
  consumers: string[]
  /** size of stream.tar.s2 */
  fileBytes: number
}

export interface Manifest {
  format: typeof FORMAT
  startedAt: string
  finishedAt: string
  server: { version: string }
  /** in backup order (see backupStreams) */
  streams: StreamBackup[]
  /** files of DATA_DIR kept beside the streams (the task token secret), by name */
  files?: string[]
}

/** Progress of a backup or a restore: which stream, and bytes of its file moved so far. */
export type Progress = (p: { stream: string, index: number, of: number, fileBytes: number }) => void

const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface ApiError { code: number, err_code?: number, description: string }

async function api<T> (nc: NatsConnection, subject: string, body: unknown, timeout = API_TIMEOUT_MS): Promise<T> {
  const msg = await nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout })
  const answer = JSON.parse(decoder.decode(msg.data)) as T & { error?: ApiError }
  if (answer.error !== undefined) throw new BackupError(`${subject}: ${answer.error.description} (${answer.error.err_code ?? answer.error.code})`)
  return answer
}

/**
 * Writes one stream's snapshot, with its consumers, into `dir` (created): stream.tar.s2 and
 * backup.json. Resolves once the server has sent the last chunk and the file is on disk.
 */
export async function snapshotStream (nc: NatsConnection, stream: string, dir: string, progress?: (fileBytes: number) => void): Promise<{ config: StreamConfig, state: StreamState, fileBytes: number }> {
  await mkdir(dir, { recursive: true })
  const dataFile = join(dir, STREAM_DATA_FILE)
  const out = createWriteStream(dataFile)
  const deliver = createInbox()
  let fileBytes = 0
  let stalled: NodeJS.Timeout | undefined
  const done = new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => { clearTimeout(stalled); sub.unsubscribe(); reject(err) }
    const watch = (): void => {
      clearTimeout(stalled)
      stalled = setTimeout(() => { fail(new BackupError(`snapshot of ${stream}: no chunk for ${STALL_MS / 1000} s`)) }, STALL_MS)
    }
    out.once('error', fail)
    // subscribed before the request, so no chunk can come before there is interest
    const sub = nc.subscribe(deliver, {
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) { fail(err); return }
        watch()
        if (msg.data.length === 0) {
          clearTimeout(stalled)
          sub.unsubscribe()
          const code = msg.headers?.code ?? 0
          if (code !== 0 && code !== 204) reject(new BackupError(`snapshot of ${stream} failed: ${code} ${msg.headers?.description ?? ''}`.trim()))
          else resolve()
          return
        }
        // acknowledge at once (the data is in memory): the server paces itself on these
        if (msg.reply !== undefined && msg.reply !== '') msg.respond()
        fileBytes += msg.data.length
        out.write(msg.data)
        progress?.(fileBytes)
      }
    })
    watch()
  })
  try {
    const answer = await api<{ config: StreamConfig, state: StreamState }>(nc, `$JS.API.STREAM.SNAPSHOT.${stream}`, { deliver_subject: deliver, chunk_size: CHUNK_BYTES })
    await done
    out.end()
    await once(out, 'finish')
    await writeFile(join(dir, STREAM_META_FILE), JSON.stringify({ config: answer.config, state: answer.state }, null, 2))
    return { config: answer.config, state: answer.state, fileBytes }
  } catch (err) {
    out.destroy()
    // a snapshot that never started must not leave its waiter behind
    done.catch(() => {})
    throw err
  }
}

/**
 * Restores one stream from a directory snapshotStream (or `nats stream backup`) wrote. The
 * server refuses a stream that exists; callers check first, so that nothing is half done.
 */
export async function restoreStream (nc: NatsConnection, dir: string, progress?: (fileBytes: number) => void): Promise<{ name: string, state: StreamState }> {
  const meta = JSON.parse(await readFile(join(dir, STREAM_META_FILE), 'utf8')) as { config: StreamConfig, state: StreamState }
  const name = meta.config.name
  if (String(meta.config.storage) === 'memory') throw new BackupError(`${name}: a memory stream has no snapshot to restore`)
  const { deliver_subject: deliver } = await api<{ deliver_subject: string }>(nc, `$JS.API.STREAM.RESTORE.${name}`, meta)
  let sent = 0
  for await (const chunk of createReadStream(join(dir, STREAM_DATA_FILE), { highWaterMark: RESTORE_CHUNK_BYTES })) {
    const answer = await nc.request(deliver, chunk as Buffer, { timeout: API_TIMEOUT_MS })
    if (answer.data.length > 0) throw new BackupError(`restore of ${name} refused a chunk: ${decoder.decode(answer.data)}`)
    sent += (chunk as Buffer).length
    progress?.(sent)
  }
  const finished = await nc.request(deliver, new Uint8Array(0), { timeout: RESTORE_FINISH_MS })
  const created = JSON.parse(decoder.decode(finished.data)) as { state?: StreamState, error?: ApiError }
  if (created.error !== undefined || created.state === undefined) throw new BackupError(`restore of ${name} failed: ${created.error?.description ?? 'no stream state in the answer'}`)
  return { name, state: created.state }
}

/**
 * The order streams are backed up in: every stream whose durable consumers append to another
 * stream comes before that stream (MEETINGS and TASKS before NOTIFY, every worker's stream
 * before DLQ). A snapshot holds its consumers' positions as of its end; an effect appended to a
 * later stream after that is then either in the backup with its cause redelivered after a
 * restore (the workers find the effect done: an email that was sent is not sent again) or not
 * in it with its cause still pending: never an acknowledged cause whose effect is missing.
 */
export const BACKUP_ORDER = ['COLLECT', 'JOBS', 'MEETINGS', 'TASKS', 'RELAY', 'NOTIFY', 'LEASES', 'DLQ', 'ERASURES']

/**
 * The stream of user erasures is last: an erasure taken while the backup ran is then in it even
 * where a stream backed up earlier still holds the user's data, and every start drops that data
 * again. And a restore keeps the server's own ERASURES where it has one (its erasures are newer
 * than an older backup's), restoring every other stream beside it.
 */
export const KEPT_ON_RESTORE: string = 'ERASURES'

export function inBackupOrder (names: string[]): string[] {
  // a stream not named here (a newer one) goes just before DLQ, which every worker writes to
  const rank = (n: string): number => { const i = BACKUP_ORDER.indexOf(n); return i < 0 ? BACKUP_ORDER.indexOf('DLQ') - 0.5 : i }
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

export interface BackupOptions {
  nc: NatsConnection
  jsm: JetStreamManager
  /** streams to back up; those the server does not have are skipped (and named in `missing`) */
  streams: string[]
  /** a directory that does not exist, or is empty */
  outDir: string
  progress?: Progress
  /** between the snapshots (tests widen the window between two streams here) */
  afterStream?: (stream: string) => Promise<void>
  /** files to keep beside the streams (absent ones are skipped), e.g. DATA_DIR/task-token.secret */
  files?: string[]
}

/**
 * Backs up the streams one after another in BACKUP_ORDER into `outDir`. The files are written
 * to `<outDir>.partial` first and renamed at the end, so a directory named `outDir` is always a
 * whole backup.
 */
export async function backupStreams (opts: BackupOptions): Promise<Manifest & { missing: string[] }> {
  const { nc, jsm, outDir } = opts
  if ((await readdir(outDir).catch(() => [])).length > 0) throw new BackupError(`${outDir} exists and is not empty: a backup goes into a new directory`)
  const staging = `${outDir}.partial`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  const startedAt = new Date().toISOString()
  const present: string[] = []
  const missing: string[] = []
  for (const name of inBackupOrder(opts.streams)) {
    const info = await jsm.streams.info(name).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined
      throw err
    })
    if (info === undefined) { missing.push(name); continue }
    if (String(info.config.storage) === 'memory') throw new BackupError(`${name} is a memory stream (STREAM_STORAGE=memory): JetStream has no snapshot of memory streams, and nothing survives a restart of it anyway`)
    present.push(name)
  }
  const streams: StreamBackup[] = []
  for (const [index, name] of present.entries()) {
    const consumers: string[] = []
    for await (const c of jsm.consumers.list(name)) if (c.config.durable_name !== undefined && c.config.durable_name !== '') consumers.push(c.name)
    const snap = await snapshotStream(nc, name, join(staging, name), fileBytes => opts.progress?.({ stream: name, index, of: present.length, fileBytes }))
    streams.push({
      name,
      messages: snap.state.messages,
      bytes: snap.state.bytes,
      firstSeq: snap.state.first_seq,
      lastSeq: snap.state.last_seq,
      consumers: consumers.sort(),
      fileBytes: snap.fileBytes
    })
    await opts.afterStream?.(name)
  }
  const files: string[] = []
  for (const file of opts.files ?? []) {
    const copied = await copyFile(file, join(staging, basename(file))).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false
      throw err
    })
    if (copied) files.push(basename(file))
  }
  const manifest: Manifest = { format: FORMAT, startedAt, finishedAt: new Date().toISOString(), server: { version: nc.info?.version ?? '' }, streams, files }
  await writeFile(join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2))
  await rm(outDir, { recursive: true, force: true })
  await rename(staging, outDir)
  return { ...manifest, missing }
}

export async function readManifest (dir: string): Promise<Manifest> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => {
    throw new BackupError(`${dir} holds no ${MANIFEST_FILE}: not a Jetway backup (npm run backup -- --out DIR writes one)`)
  })
  const manifest = JSON.parse(text) as Manifest
  if (manifest.format !== FORMAT) throw new BackupError(`${dir}: unknown backup format ${JSON.stringify(manifest.format)}`)
  return manifest
}

export interface RestoreOptions {
  nc: NatsConnection
  jsm: JetStreamManager
  fromDir: string
  progress?: Progress
}

export interface Restored {
  name: string
  messages: number
  bytes: number
  lastSeq: number
  /** sequences skipped so that no consumer stands past the stream's end (alignConsumers) */
  skipped: number
  /** the server's own stream was kept and the backup's not restored (KEPT_ON_RESTORE) */
  kept?: true
}

/**
 * Restores every stream of a backup. Refuses, before restoring anything, when the server has
 * any of them: a restore never overwrites or merges.
 */
export async function restoreStreams (opts: RestoreOptions): Promise<Restored[]> {
  const { nc, jsm, fromDir } = opts
  const manifest = await readManifest(fromDir)
  const existing: string[] = []
  for (const s of manifest.streams) {
    const found = await jsm.streams.info(s.name).then(() => true, (err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false
      throw err
    })
    if (found) existing.push(s.name)
  }
  const kept = existing.filter(name => name === KEPT_ON_RESTORE)
  existing.splice(0, existing.length, ...existing.filter(name => name !== KEPT_ON_RESTORE))
  if (existing.length > 0) {
    throw new BackupError(`the server already has stream${existing.length > 1 ? 's' : ''} ${existing.join(', ')}: a restore does not overwrite. ` +
      'Restore into a nats-server without them (a new one, or delete them first with nats stream rm if you mean to throw them away)')
  }
  const restored: Restored[] = []
  for (const [index, s] of manifest.streams.entries()) {
    if (kept.includes(s.name)) {
      const { state } = await jsm.streams.info(s.name)
      restored.push({ name: s.name, messages: state.messages, bytes: state.bytes, lastSeq: state.last_seq, skipped: 0, kept: true })
      continue
    }
    const { state } = await restoreStream(nc, join(fromDir, s.name), fileBytes => opts.progress?.({ stream: s.name, index, of: manifest.streams.length, fileBytes }))
    const skipped = await alignConsumers(nc, jsm, s.name)
    restored.push({ name: s.name, messages: state.messages, bytes: state.bytes, lastSeq: state.last_seq + skipped, skipped })
  }
  return restored
}

/**
 * Puts a backup's kept files into `dataDir` where it has none of that name. Answers per file:
 * restored, kept (the same file is there), or differs (another file is there: left as it is).
 */
export async function restoreFiles (fromDir: string, dataDir: string): Promise<{ name: string, outcome: 'restored' | 'kept' | 'differs' }[]> {
  const manifest = await readManifest(fromDir)
  const out: { name: string, outcome: 'restored' | 'kept' | 'differs' }[] = []
  await mkdir(dataDir, { recursive: true })
  for (const name of manifest.files ?? []) {
    const kept = await readFile(join(fromDir, name))
    const there = await readFile(join(dataDir, name)).catch(() => undefined)
    if (there === undefined) {
      await writeFile(join(dataDir, name), kept, { mode: 0o600, flag: 'wx' })
      out.push({ name, outcome: 'restored' })
    } else {
      out.push({ name, outcome: there.equals(kept) ? 'kept' : 'differs' })
    }
  }
  return out
}

/** Size of a backup's files, for a restore's progress. */
export async function backupBytes (dir: string): Promise<number> {
  const manifest = await readManifest(dir)
  let total = 0
  for (const s of manifest.streams) total += (await stat(join(dir, s.name, STREAM_DATA_FILE))).size
  return total
}

/** A subject of the stream that no Jetway event uses: the first subject, wildcards replaced. */
export function gapSubject (config: StreamConfig): string {
  const first = config.subjects?.[0] ?? config.name
  return first.split('.').map(t => (t === '*' || t === '>') ? 'jetway-restore-gap' : t).join('.')
}

/**
 * A snapshot writes the stream's message blocks first and its consumers' state last, so under
 * writes a consumer can stand past the last message in the backup: it took messages appended
 * while the snapshot ran. nats-server 2.9 restores that position as it is, and the stream's
 * next messages would get sequences that consumer counts as done: it would skip them. So the
 * stream's sequence is moved past the furthest consumer with placeholder messages on a subject
 * no worker reads (gapSubject), which are then purged: the sequences are used, no message stays.
 * Answers how many sequences were skipped.
 */
export async function alignConsumers (nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<number> {
  const info = await jsm.streams.info(stream)
  let furthest = 0
  for await (const c of jsm.consumers.list(stream)) furthest = Math.max(furthest, c.delivered.stream_seq, c.ack_floor.stream_seq)
  const gap = furthest - info.state.last_seq
  if (gap <= 0) return 0
  const subject = gapSubject(info.config)
  const js = jetstream(nc)
  for (let i = 0; i < gap; i++) await js.publish(subject, new Uint8Array(0))
  await jsm.streams.purge(stream, { filter: subject })
  return gap
}
