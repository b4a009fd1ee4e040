// npm run bench:query — p50/p99 of GET /api/event/{user_id} over HTTP with EVENTS (default
// 1,000,000) events stored, one at a time and 8 concurrent, then 8 concurrent while INGEST
// (default 2000) single events/s are collected; beside them the same SQL run in-process on
// better-sqlite3 and an HTTP round-trip to /healthz (the floor of any request), in the same run.
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { fork } from 'node:child_process'
import { Pool } from 'undici'
import { openDatabase } from '../src/projections/db.js'
import { benchNats, cpuMeter, fmt, fmtStalls, isMain, percentile, report, section, spawnService, stallMeter, tempDir, type Figure } from './lib.js'

const USERS = 10_000
const FILLED_SEQ = 1_000_000_000

export interface QueryOptions {
  events?: number
  requests?: number
  /** single events/s collected while the concurrent queries run */
  ingest?: number
}

export async function queryBench (opts: QueryOptions = {}): Promise<Figure[]> {
  const EVENTS = opts.events ?? 1_000_000
  const REQUESTS = opts.requests ?? 5000
  const INGEST = opts.ingest ?? 2000
  const nats = await benchNats()
  const data = await tempDir('jetway-bench-query-')
  try {
    // Fill the read model directly (bench:catchup measures the way through the stream).
    const file = join(data.path, 'jetway.db')
    await (await openDatabase(file)).destroy()
    const sqlite = new SQLite(file)
    const insert = sqlite.prepare('INSERT INTO collect_events (seq, event_id, user_id, event, event_datetime, parameters, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    sqlite.transaction(() => {
      for (let i = 1; i <= EVENTS; i++) {
        const t = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('Z', '000Z')
        insert.run(FILLED_SEQ + i, `e-${i}`, `user-${i % USERS}`, i % 3 === 0 ? 'purchase' : 'view', t, JSON.stringify({ order_id: `o-${i}`, currency: 'KRW', price: i % 997 }), t)
      }
    })()
    const query = sqlite.prepare(`SELECT seq, event_id, event, user_id, event_datetime, parameters, anonymous_id, context, integrations FROM collect_events
      WHERE user_id = ? ORDER BY event_datetime, seq LIMIT 101`)
    const sqlTimes: number[] = []
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now()
      query.all(`user-${(i * 7919) % USERS}`).map(r => JSON.parse((r as { parameters: string }).parameters) as unknown)
      sqlTimes.push(performance.now() - t0)
    }
    sqlite.close()

    // the rows filled above sit at sequences far past the stream's: the ingest below appends
    // COLLECT:1 onwards through the projection, beside them
    const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path })
    const measure = async (paths: 'search' | 'healthz', concurrency: number, offset = 0): Promise<number[]> =>
      await latencies(service.url, { paths, concurrency, requests: REQUESTS, minItems: Math.min(100, Math.floor(EVENTS / USERS)), users: USERS, offset })
    const ingest = (rate: number): { stop: () => Promise<{ sent: number, failed: number, seconds: number }> } => ingestAt(service.url, rate, USERS)
    try {
      await measure('search', 8) // warm-up of the service
      const api1 = await measure('search', 1)
      const api8 = await measure('search', 8)
      const writes = ingest(INGEST)
      await new Promise(resolve => setTimeout(resolve, 1000)) // the ingest at its pace
      const busy = cpuMeter()
      const stalls = await stallMeter(service.url)
      const api8w = await measure('search', 8, 13)
      const stalled = await stalls.stop()
      const cpuBusy = busy.stop()
      const floor8w = await measure('healthz', 8)
      const written = await writes.stop()
      const floor = await measure('healthz', 1)
      const floor8 = await measure('healthz', 8)
      sqlTimes.sort((a, b) => a - b)
      const line = (name: string, times: number[]): void => {
        console.log(`${name.padEnd(52)} p50 ${fmt(percentile(times, 0.5), 2)} ms, p99 ${fmt(percentile(times, 0.99), 2)} ms`)
      }
      const ingestRate = written.sent / written.seconds
      section(`query (${fmt(EVENTS)} events, ${fmt(USERS)} users, 100 items per page, ${fmt(REQUESTS)} requests each)`)
      line('GET /api/event/{user_id}, 1 at a time:', api1)
      line('GET /api/event/{user_id}, 8 concurrent:', api8)
      line(`GET /api/event/{user_id}, 8 concurrent, ingesting ${fmt(ingestRate)}/s:`, api8w)
      console.log(`  (ingest beside it: ${fmt(written.sent)} events answered 2xx, ${written.failed} not; both cores ${fmt(cpuBusy * 100)}% busy)`)
      console.log(`  (the service's HTTP thread meanwhile: ${fmtStalls(stalled)})`)
      line('same SQL + JSON.parse in-process:', sqlTimes)
      line('GET /healthz, 1 at a time (HTTP floor):', floor)
      line('GET /healthz, 8 concurrent:', floor8)
      line('GET /healthz, 8 concurrent, ingesting:', floor8w)
      const p99 = percentile(api8w, 0.99)
      return [{
        figure: `GET /api/event/{user} p99 at 8 concurrent, ${fmt(EVENTS)} stored, while ingesting`,
        value: `${fmt(p99, 2)} ms`,
        limit: `ingest ${fmt(ingestRate)}/s, CPU ${fmt(cpuBusy * 100)}% busy; SQL alone p99 ${fmt(percentile(sqlTimes, 0.99), 2)} ms; /healthz p99 at 8 concurrent while ingesting ${fmt(percentile(floor8w, 0.99), 2)} ms`,
        goal: '≤ 5 ms',
        met: p99 <= 5 && written.failed === 0,
        stalls: stalled
      }]
    } finally {
      await service.stop()
    }
  } finally {
    await nats.remove()
    await data.remove()
  }
}

if (isMain(import.meta.url)) {
  report(await queryBench({ events: Number(process.env.EVENTS ?? 1_000_000), requests: Number(process.env.REQUESTS ?? 5000), ingest: Number(process.env.INGEST ?? 2000) }))
}

/** latencies (ms, sorted) of `requests` GETs over `concurrency` connections, from a client process of its own */
export async function latencies (url: string, o: { paths: 'search' | 'healthz', concurrency: number, requests: number, minItems: number, users: number, offset?: number }): Promise<number[]> {
  const child = fork('bench/query-client.ts', [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, URL: url, PATHS: o.paths, CONCURRENCY: String(o.concurrency), REQUESTS: String(o.requests), MIN_ITEMS: String(o.minItems), USERS: String(o.users), OFFSET: String(o.offset ?? 0) }
  })
  return await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m: { times: number[] }) => resolve(m.times.sort((a, b) => a - b)))
    child.once('exit', code => reject(new Error(`query client exited ${String(code)}`)))
  })
}

/** single collect POSTs at `rate`/s until stopped; resolves with how many were answered 2xx */
export function ingestAt (url: string, rate: number, users: number): { stop: () => Promise<{ sent: number, failed: number, seconds: number }> } {
  const writer = new Pool(url, { connections: 16 })
  const state = { running: true }
  let sent = 0
  let failed = 0
  const t0 = performance.now()
  const inFlight = new Set<Promise<void>>()
  const loop = (async () => {
    while (state.running) {
      while (sent + failed + inFlight.size < ((performance.now() - t0) / 1000) * rate && inFlight.size < 256) {
        const i = sent + failed + inFlight.size
        const p = writer.request({ path: '/api/collect', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event_id: `live-${t0}-${i}`, event: 'view', user_id: `user-${i % users}`, parameters: { price: i } }) })
          .then(async r => { await r.body.dump(); if (r.statusCode === 200) sent++; else failed++ }, () => { failed++ })
          .finally(() => inFlight.delete(p))
        inFlight.add(p)
      }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    await Promise.all(inFlight)
  })()
  return {
    stop: async () => {
      state.running = false
      await loop
      await writer.close()
      return { sent, failed, seconds: (performance.now() - t0) / 1000 }
    }
  }
}
