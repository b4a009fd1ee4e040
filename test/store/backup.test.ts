import t from 'tap'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { Test } from 'tap'
import { pino } from 'pino'
import { appendEvent, decodeEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { startNatsServer, type NatsServer } from '../../src/store/nats-server.js'
import { alignConsumers, backupStreams, BACKUP_ORDER, inBackupOrder, MANIFEST_FILE, readManifest, restoreStreams, STREAM_DATA_FILE, STREAM_META_FILE } from '../../src/store/backup.js'
import { applyStreams, loadStreamConfigs } from '../../src/store/streams.js'
import { loadConfig } from '../../src/config.js'

// Backups with JetStream's snapshot API, against real nats-servers: every message keeps its
// sequence, headers and body; durable consumers keep their positions; a restore refuses a
// server that has any of the streams and then restores none; a consumer that a write during
// the snapshot put past the stream's end is moved behind it again.

async function tempDir (t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function server (t: Test, storeDir?: string): Promise<NatsServer & { storeDir: string }> {
  const dir = storeDir ?? await tempDir(t, 'jetway-backup-nats-')
  const s = await startNatsServer({ port: -1, storeDir: dir })
  t.teardown(async () => { await s.stop() })
  return { ...s, storeDir: dir }
}

async function connectTo (t: Test, url: string): Promise<{ nc: NatsConnection, jsm: JetStreamManager }> {
  const nc = await connect({ servers: url })
  t.teardown(async () => { await nc.close() })
  return { nc, jsm: await jetstreamManager(nc) }
}

/** Every message of a stream, by sequence: subject, headers and body as stored. */
async function contents (jsm: JetStreamManager, stream: string): Promise<Map<number, string>> {
  const info = await jsm.streams.info(stream)
  const out = new Map<number, string>()
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null)
    if (m === null) continue
    out.set(seq, JSON.stringify({ subject: m.subject, headers: [...(m.header ?? [])], data: Buffer.from(m.data).toString('base64'), time: m.time.toISOString() }))
  }
  return out
}

t.test('backup order: every stream a worker appends to comes after the streams it reads', async t => {
  t.same(inBackupOrder(['DLQ', 'NOTIFY', 'MEETINGS', 'ZZZ', 'COLLECT', 'TASKS']), ['COLLECT', 'MEETINGS', 'TASKS', 'NOTIFY', 'ZZZ', 'DLQ'])
  const names = (await loadStreamConfigs(loadConfig({}))).map(c => c.name)
  t.same([...names].sort(), [...BACKUP_ORDER].sort(), 'the order names every stream of streams/*.json')
})

t.test('a backup restored into another server keeps sequences, messages and consumer positions; a second restore is refused', async t => {
  const a = await server(t)
  const { nc, jsm } = await connectTo(t, a.url)
  await applyStreams(jsm, await loadStreamConfigs(loadConfig({})), pino({ level: 'silent' }))
  const js = jetstream(nc)
  const time = new Date()
  for (let i = 0; i < 50; i++) {
    const data = { event_id: `e-${i}`, event: 'view', user_id: `u-${i % 5}`, parameters: { price: i }, event_datetime: time.toISOString(), received_at: time.toISOString() }
    await appendEvent(js, { def: Events.collectEventReceived, data, subject: `collect.user.u-${i % 5}.view`, source: '/jetway/test', idempotencyKey: `k-${i}`, time })
  }
  for (let i = 0; i < 20; i++) {
    await appendEvent(js, { def: Events.collectEventReceived, data: { event_id: `j-${i}`, event: 'x', user_id: 'u', parameters: {}, event_datetime: time.toISOString(), received_at: time.toISOString() }, subject: `jobs.requested.j-${i}`, source: '/jetway/test', time })
  }
  // a worker's durable consumer that has acknowledged 12 and holds 3 unacknowledged
  await jsm.consumers.add('JOBS', { durable_name: 'test-worker', ack_policy: AckPolicy.Explicit, filter_subject: 'jobs.requested.>', ack_wait: 2_000_000_000 })
  const consumer = await js.consumers.get('JOBS', 'test-worker')
  let n = 0
  for await (const m of await consumer.fetch({ max_messages: 15, expires: 1000 })) { if (++n <= 12) m.ack(); if (n === 15) break }
  await nc.flush()
  const before = await jsm.consumers.info('JOBS', 'test-worker')
  t.equal(before.ack_floor.stream_seq, 12)
  t.equal(before.delivered.stream_seq, 15)

  const outDir = join(await tempDir(t, 'jetway-backup-out-'), 'backup')
  const order: string[] = []
  const manifest = await backupStreams({ nc, jsm, streams: ['JOBS', 'COLLECT', 'NOPE'], outDir, afterStream: async s => { order.push(s) } })
  t.same(order, ['COLLECT', 'JOBS'], 'in backup order')
  t.same(manifest.missing, ['NOPE'])
  t.match(manifest.streams, [{ name: 'COLLECT', messages: 50, firstSeq: 1, lastSeq: 50, consumers: [] }, { name: 'JOBS', messages: 20, lastSeq: 20, consumers: ['test-worker'] }])
  t.same((await readdir(outDir)).sort(), ['COLLECT', 'JOBS', MANIFEST_FILE])
  t.same((await readdir(join(outDir, 'JOBS'))).sort(), [STREAM_META_FILE, STREAM_DATA_FILE], "the nats CLI's layout")
  t.equal(JSON.parse(await readFile(join(outDir, 'JOBS', STREAM_META_FILE), 'utf8')).config.name, 'JOBS')
  t.equal((await readManifest(outDir)).streams.length, 2)
  await t.rejects(backupStreams({ nc, jsm, streams: ['JOBS'], outDir }), /exists and is not empty/, 'a backup never writes over another')

  const b = await server(t)
  const target = await connectTo(t, b.url)
  const restored = await restoreStreams({ nc: target.nc, jsm: target.jsm, fromDir: outDir })
  t.match(restored, [{ name: 'COLLECT', messages: 50, lastSeq: 50, skipped: 0 }, { name: 'JOBS', messages: 20, lastSeq: 20, skipped: 0 }])
  for (const stream of ['COLLECT', 'JOBS']) {
    t.same(await contents(target.jsm, stream), await contents(jsm, stream), `${stream}: every message at its sequence, headers, body and time as they were`)
  }
  const decoded = decodeEvent((await target.jsm.streams.getMessage('COLLECT', { seq: 7 }))!)
  t.match(decoded, { seq: 7, type: 'collect.event.received', data: { event_id: 'e-6' } })
  const after = await target.jsm.consumers.info('JOBS', 'test-worker')
  t.equal(after.ack_floor.stream_seq, 12, 'the consumer keeps its acknowledged floor')
  t.equal(after.delivered.stream_seq, 15, 'and what it had delivered')
  t.equal(after.num_pending, 5, 'the 5 never delivered wait for it')

  // the restored consumer goes on where it was: the 5 never delivered, and the 3 unacknowledged
  // again once their ack_wait (2 s) has run out
  const restoredJs = jetstream(target.nc)
  const next = await restoredJs.consumers.get('JOBS', 'test-worker')
  const seqs: number[] = []
  for (let round = 0; seqs.length < 8 && round < 10; round++) {
    for await (const m of await next.fetch({ max_messages: 8 - seqs.length, expires: 1500 })) { seqs.push(m.seq); m.ack() }
  }
  t.same(seqs.sort((x, y) => x - y), [13, 14, 15, 16, 17, 18, 19, 20], 'nothing acknowledged before the backup is delivered again')
  const appended = await appendEvent(restoredJs, { def: Events.collectEventReceived, data: { event_id: 'new', event: 'x', user_id: 'u', parameters: {}, event_datetime: time.toISOString(), received_at: time.toISOString() }, subject: 'jobs.requested.new', source: '/jetway/test', time })
  t.equal(appended.seq, 21, 'a new event continues the sequence')

  await t.rejects(restoreStreams({ nc: target.nc, jsm: target.jsm, fromDir: outDir }), /already has streams COLLECT, JOBS: a restore does not overwrite/)
  // a server with one of them: refused, and the other is not restored either
  const c = await server(t)
  const partial = await connectTo(t, c.url)
  await partial.jsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'] })
  await t.rejects(restoreStreams({ nc: partial.nc, jsm: partial.jsm, fromDir: outDir }), /already has stream JOBS: a restore does not overwrite/)
  await t.rejects(partial.jsm.streams.info('COLLECT'), /stream not found/, 'nothing was restored')
  await t.rejects(restoreStreams({ nc: partial.nc, jsm: partial.jsm, fromDir: a.storeDir }), /not a Jetway backup/)
})

t.test("a restore keeps the server's own ERASURES (newer erasures) and restores every other stream beside it", async t => {
  const a = await server(t)
  const src = await connectTo(t, a.url)
  await src.jsm.streams.add({ name: 'ERASURES', subjects: ['erasure.>'] })
  await src.jsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'] })
  await src.nc.request('erasure.old', new TextEncoder().encode('backup'), { timeout: 2000 })
  await src.nc.request('jobs.requested.1', new TextEncoder().encode('{}'), { timeout: 2000 })
  const outDir = join(await tempDir(t, 'jetway-backup-out-'), 'backup')
  const manifest = await backupStreams({ nc: src.nc, jsm: src.jsm, streams: ['ERASURES', 'JOBS'], outDir })
  t.same(manifest.streams.map(s => s.name), ['JOBS', 'ERASURES'], 'ERASURES is backed up last')

  const b = await server(t)
  const target = await connectTo(t, b.url)
  await target.jsm.streams.add({ name: 'ERASURES', subjects: ['erasure.>'] })
  for (const n of [1, 2]) await target.nc.request(`erasure.new${n}`, new TextEncoder().encode('newer'), { timeout: 2000 })
  const restored = await restoreStreams({ nc: target.nc, jsm: target.jsm, fromDir: outDir })
  t.match(restored, [{ name: 'JOBS', messages: 1 }, { name: 'ERASURES', messages: 2, kept: true }])
  t.equal((await target.jsm.streams.info('ERASURES')).state.messages, 2, "the server's erasures stay, not the backup's one")
  t.equal((await target.jsm.streams.info('JOBS')).state.messages, 1, 'the other streams are restored')
})

t.test('a consumer left past the end of its restored stream is moved behind it again (the snapshot race)', async t => {
  // The race's outcome, made with the server's own files: the consumer's state of a later
  // moment (15 acknowledged) over a stream restored as of an earlier one (10 messages).
  const a = await server(t)
  const src = await connectTo(t, a.url)
  await src.jsm.streams.add({ name: 'RACE', subjects: ['race.>'] })
  await src.jsm.consumers.add('RACE', { durable_name: 'w', ack_policy: AckPolicy.Explicit, filter_subject: 'race.work.>' })
  const js = jetstream(src.nc)
  const ackAll = async (conn: NatsConnection, upTo: number): Promise<void> => {
    const c = await jetstream(conn).consumers.get('RACE', 'w')
    while ((await c.info()).ack_floor.stream_seq < upTo) {
      for await (const m of await c.fetch({ max_messages: 100, expires: 1000 })) m.ack()
    }
  }
  for (let i = 1; i <= 10; i++) await js.publish(`race.work.${i}`, `m${i}`)
  await ackAll(src.nc, 10)
  const early = join(await tempDir(t, 'jetway-race-'), 'early')
  await backupStreams({ nc: src.nc, jsm: src.jsm, streams: ['RACE'], outDir: early })
  for (let i = 11; i <= 15; i++) await js.publish(`race.work.${i}`, `m${i}`)
  await ackAll(src.nc, 15)
  await a.stop()

  const bDir = await tempDir(t, 'jetway-race-b-')
  let b = await server(t, bDir)
  let dst = await connectTo(t, b.url)
  await restoreStreams({ nc: dst.nc, jsm: dst.jsm, fromDir: early })
  await dst.nc.close()
  await b.stop()
  const consumerDir = (root: string): string => join(root, 'jetstream', '$G', 'streams', 'RACE', 'obs', 'w')
  await cp(consumerDir(a.storeDir), consumerDir(bDir), { recursive: true, force: true })
  b = await server(t, bDir)
  dst = await connectTo(t, b.url)
  const info = await dst.jsm.consumers.info('RACE', 'w')
  t.equal(info.delivered.stream_seq, 15, 'the consumer stands at 15')
  t.equal((await dst.jsm.streams.info('RACE')).state.last_seq, 10, 'the stream ends at 10')

  t.equal(await alignConsumers(dst.nc, dst.jsm, 'RACE'), 5, 'five sequences skipped')
  const state = (await dst.jsm.streams.info('RACE')).state
  t.equal(state.last_seq, 15)
  t.equal(state.messages, 10, 'the placeholders are purged')
  const published = await jetstream(dst.nc).publish('race.work.16', 'after')
  t.equal(published.seq, 16)
  const c = await jetstream(dst.nc).consumers.get('RACE', 'w')
  const got: string[] = []
  for await (const m of await c.fetch({ max_messages: 1, expires: 3000 })) { got.push(m.string()); m.ack() }
  t.same(got, ['after'], 'the first write after the restore reaches the consumer')
  t.equal(await alignConsumers(dst.nc, dst.jsm, 'RACE'), 0, 'nothing to do the second time')
})
