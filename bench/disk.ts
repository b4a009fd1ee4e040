// npm run bench:disk — what collected events cost on disk, beside the raw JSON of the events:
// the COLLECT stream's files and the SQLite read model (file, WAL), per 1,000,000 events; and
// a retention run: events keep arriving at a steady rate into a stream with a short max_age, and
// the disk stays flat. The service runs as `npm start` does (a child), on its own nats-server.
//   EVENTS (default 100000) seed-shaped events; RETENTION_SECONDS (10), RETENTION_RUN_SECONDS (90),
//   RETENTION_RATE (1000 events/s) for the retention run.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Pool } from 'undici'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { mapLimit } from '../src/lib/concurrency.js'
import { formatBytes } from '../src/lib/bytes.js'
import { readModelSize } from '../src/projections/read-model-size.js'
import { benchNats, fmt, isMain, report, section, spawnService, tempDir, type Figure } from './lib.js'

const BATCH = 500

/** A seed-shaped event (seed 002's body), unique per i: about 165 bytes of JSON. */
export function seedEvent (i: number): Record<string, unknown> {
  const t = new Date(Date.UTC(2026, 10, 21, 21, 57, 40, 873) + i * 1000).toISOString().replace('Z', '000Z')
  return { event_id: `e${i}`, event: ['view', 'cart', 'purchase'][i % 3], user_id: `u${i % 1000}`, event_datetime: t, parameters: { order_id: `o${i}`, currency: 'KRW', price: i % 997 } }
}

/** Bytes of the files under a directory (their sizes, as `du -b` counts them). */
export async function dirBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) total += await stat(join(entry.parentPath, entry.name)).then(s => s.size, () => 0)
  }
  return total
}

const streamDir = (natsStore: string, stream: string): string => join(natsStore, 'jetstream', '$G', 'streams', stream)

async function post (pool: Pool, events: Record<string, unknown>[]): Promise<number> {
  const r = await pool.request({ path: '/api/collect/batch', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
  const body = await r.body.json() as { accepted: number }
  return body.accepted
}

async function caughtUp (url: string, jsm: JetStreamManager): Promise<void> {
  const last = (await jsm.streams.info('COLLECT')).state.last_seq
  for (;;) {
    const r = await fetch(`${url}/api/event/nobody?min_seq=${last}`)
    if (r.status === 200) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

export async function diskBench (opts: { events?: number, retentionSeconds?: number, runSeconds?: number, rate?: number } = {}): Promise<Figure[]> {
  const EVENTS = opts.events ?? 100_000
  const figures: Figure[] = []
  /** the stream's bytes on disk per event, measured in part 1 */
  let streamPerEvent = 0

  // 1. bytes per event
  {
    const nats = await benchNats()
    const data = await tempDir('jetway-bench-disk-')
    const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path })
    const nc = await connect({ servers: nats.url })
    try {
      const jsm = await jetstreamManager(nc)
      const pool = new Pool(service.url, { connections: 4 })
      let raw = 0
      let accepted = 0
      await mapLimit(Array.from({ length: Math.ceil(EVENTS / BATCH) }, (_, b) => b), 4, async b => {
        const events = Array.from({ length: Math.min(BATCH, EVENTS - b * BATCH) }, (_, i) => seedEvent(b * BATCH + i))
        for (const e of events) raw += Buffer.byteLength(JSON.stringify(e))
        const n = await post(pool, events)
        accepted += n
      })
      await pool.close()
      await caughtUp(service.url, jsm)
      const state = (await jsm.streams.info('COLLECT')).state
      const onDisk = await dirBytes(streamDir(nats.storeDir, 'COLLECT'))
      const dbFile = join(data.path, 'jetway.db')
      const atCatchUp = (await readModelSize({ dbFile, readModelUrl: undefined }))!
      // the WAL at rest: the service empties it with a checkpoint every 30 s (src/projections/db.ts)
      const rested = Date.now()
      let sqlite = atCatchUp
      while (sqlite.wal > 0 && Date.now() - rested < 45_000) {
        await new Promise(resolve => setTimeout(resolve, 500))
        sqlite = (await readModelSize({ dbFile, readModelUrl: undefined }))!
      }
      const perEvent = (n: number): number => n / accepted
      const perMillion = (n: number): string => formatBytes(Math.round(perEvent(n) * 1_000_000))
      streamPerEvent = perEvent(onDisk)
      section(`bytes on disk (${fmt(accepted)} seed-shaped events, ${fmt(raw / accepted, 1)} bytes of JSON each)`)
      console.log(`raw JSON of the events:            ${fmt(perEvent(raw), 1)} B/event   ${perMillion(raw)} per 1M`)
      console.log(`COLLECT stream (files on disk):    ${fmt(perEvent(onDisk), 1)} B/event   ${perMillion(onDisk)} per 1M   ${fmt(onDisk / raw, 2)}× the JSON (JetStream counts ${fmt(perEvent(state.bytes), 1)} B/event)`)
      console.log(`read model (SQLite file):          ${fmt(perEvent(sqlite.db), 1)} B/event   ${perMillion(sqlite.db)} per 1M   ${fmt(sqlite.db / raw, 2)}×`)
      console.log(`read model (WAL + index):          ${fmt(perEvent(sqlite.wal + sqlite.shm), 1)} B/event   ${perMillion(sqlite.wal + sqlite.shm)} per 1M   (at catch-up, before the next checkpoint: ${formatBytes(atCatchUp.wal + atCatchUp.shm)}, ${fmt(perEvent(atCatchUp.wal + atCatchUp.shm), 1)} B/event)`)
      const total = onDisk + sqlite.total
      console.log(`in all:                            ${fmt(perEvent(total), 1)} B/event   ${perMillion(total)} per 1M   ${fmt(total / raw, 2)}× the JSON`)
      figures.push(
        { figure: 'COLLECT stream on disk per 1,000,000 collected events', value: perMillion(onDisk), limit: `${perMillion(raw)} of raw JSON`, ratio: onDisk / raw, goal: '', met: accepted === EVENTS },
        { figure: 'read model (SQLite + WAL) per 1,000,000 collected events', value: perMillion(sqlite.total), limit: `${perMillion(raw)} of raw JSON`, ratio: sqlite.total / raw, goal: '', met: accepted === EVENTS },
        { figure: 'stream and read model together ÷ raw JSON', value: perMillion(total), limit: `${perMillion(raw)} of raw JSON`, ratio: total / raw, goal: '≤ 3', met: total / raw <= 3 }
      )
    } finally {
      await nc.close()
      await service.stop()
      await nats.remove()
      await data.remove()
    }
  }

  // 2. retention: max_age on COLLECT, a steady stream of events, the disk sampled
  if ((opts.runSeconds ?? 90) > 0) {
    const retentionS = opts.retentionSeconds ?? 10
    const runS = opts.runSeconds ?? 90
    const rate = opts.rate ?? 1000
    const nats = await benchNats()
    const data = await tempDir('jetway-bench-retention-')
    // JetStream wants the duplicate window within max_age
    const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path, RETENTION_COLLECT: `${retentionS}s`, DUPLICATE_WINDOW: `${Math.min(retentionS, 120)}s` })
    const nc = await connect({ servers: nats.url })
    try {
      const jsm = await jetstreamManager(nc)
      // RETENTION_COLLECT is the stream's max_age where the service reads it; set it here too
      const info = await jsm.streams.info('COLLECT')
      if (info.config.max_age !== retentionS * 1e9) await jsm.streams.update('COLLECT', { ...info.config, max_age: retentionS * 1e9, duplicate_window: Math.min(info.config.duplicate_window, retentionS * 1e9) })
      const pool = new Pool(service.url, { connections: 2 })
      const samples: { t: number, messages: number, disk: number, readModel: number }[] = []
      const t0 = Date.now()
      let i = 0
      const perTick = Math.max(1, Math.round(rate / 10))
      while (Date.now() - t0 < runS * 1000) {
        const tick = Date.now()
        const events = Array.from({ length: perTick }, () => seedEvent(i++))
        await post(pool, events)
        if (samples.length === 0 || tick - t0 >= samples.length * 2000) {
          const state = (await jsm.streams.info('COLLECT')).state
          samples.push({ t: (tick - t0) / 1000, messages: state.messages, disk: await dirBytes(streamDir(nats.storeDir, 'COLLECT')), readModel: (await readModelSize({ dbFile: join(data.path, 'jetway.db'), readModelUrl: undefined }))?.total ?? 0 })
        }
        await new Promise(resolve => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))))
      }
      await pool.close()
      section(`retention: COLLECT max_age ${retentionS} s, ${fmt(rate)} events/s for ${runS} s (${fmt(i)} events)`)
      console.log('   t (s)   messages held   stream on disk   read model on disk')
      for (const s of samples) console.log(`${fmt(s.t, 0).padStart(8)}   ${fmt(s.messages).padStart(13)}   ${formatBytes(s.disk).padStart(14)}   ${formatBytes(s.readModel).padStart(18)}`)
      // flat: JetStream deletes a message block once all its messages expired, so the size is a
      // sawtooth (the live window plus up to one block); the peak of the second half of the run
      // against the peak of the first half (from 2 × max_age on) says whether it still grows
      const settled = samples.filter(s => s.t >= 2 * retentionS)
      const mid = settled.length >> 1
      const peakOf = (list: typeof samples, key: 'disk' | 'readModel'): number => Math.max(0, ...list.map(s => s[key]))
      const [early, late] = [settled.slice(0, mid), settled.slice(mid)]
      figures.push({
        figure: `COLLECT on disk with max_age ${retentionS} s while ${fmt(i / runS)} events/s keep arriving for ${runS} s`,
        value: `peak ${formatBytes(peakOf(late, 'disk'))} in the second half`,
        limit: `peak ${formatBytes(peakOf(early, 'disk'))} in the first half (from ${2 * retentionS} s); ${fmt(i)} events kept would take ${formatBytes(i * streamPerEvent)}`,
        ratio: peakOf(late, 'disk') / Math.max(1, peakOf(early, 'disk')),
        goal: 'flat (≤ 1.25)',
        met: early.length > 0 && peakOf(late, 'disk') <= 1.25 * peakOf(early, 'disk')
      })
      figures.push({
        figure: 'read model on disk in the same run (its rows follow the stream with RETENTION_COLLECT)',
        value: `peak ${formatBytes(peakOf(late, 'readModel'))} in the second half`,
        limit: `peak ${formatBytes(peakOf(early, 'readModel'))} in the first half`,
        ratio: peakOf(late, 'readModel') / Math.max(1, peakOf(early, 'readModel')),
        goal: 'flat (≤ 1.25)',
        met: early.length > 0 && peakOf(late, 'readModel') <= 1.25 * peakOf(early, 'readModel')
      })
    } finally {
      await nc.close()
      await service.stop()
      await nats.remove()
      await data.remove()
    }
  }
  return figures
}

if (isMain(import.meta.url)) {
  report(await diskBench({
    events: Number(process.env.EVENTS ?? 100_000),
    retentionSeconds: Number(process.env.RETENTION_SECONDS ?? 10),
    runSeconds: Number(process.env.RETENTION_RUN_SECONDS ?? 90),
    rate: Number(process.env.RETENTION_RATE ?? 1000)
  }))
}
