// npm run bench:query — p50/p99 of GET /api/event/{user_id} over HTTP with EVENTS (default
// 1,000,000) events stored, beside the same SQL run in-process on better-sqlite3 and an HTTP
// round-trip to /healthz (the floor of any request) measured in the same run.
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Pool } from 'undici'
import { openDatabase } from '../src/projections/db.js'
import { benchNats, fmt, percentile, section, spawnService, tempDir } from './lib.js'

const EVENTS = Number(process.env.EVENTS ?? 1_000_000)
const USERS = 10_000
const REQUESTS = Number(process.env.REQUESTS ?? 5000)

const nats = await benchNats()
const data = await tempDir('jetway-bench-query-')
try {
  // Fill the read model directly (bench:catchup measures the way through the stream).
  const file = join(data.path, 'jetway.db')
  await (await openDatabase(file)).destroy()
  const sqlite = new SQLite(file)
  const insert = sqlite.prepare('INSERT INTO collect_events VALUES (?, ?, ?, ?, ?, ?, ?)')
  sqlite.transaction(() => {
    for (let i = 1; i <= EVENTS; i++) {
      const t = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('Z', '000Z')
      insert.run(i, `e-${i}`, `user-${i % USERS}`, i % 3 === 0 ? 'purchase' : 'view', t, JSON.stringify({ order_id: `o-${i}`, currency: 'KRW', price: i % 997 }), t)
    }
  })()
  const query = sqlite.prepare(`SELECT seq, event_id, event, user_id, event_datetime, parameters FROM collect_events
    WHERE user_id = ? ORDER BY event_datetime, seq LIMIT 101`)
  const sqlTimes: number[] = []
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now()
    query.all(`user-${(i * 7919) % USERS}`).map(r => JSON.parse((r as { parameters: string }).parameters) as unknown)
    sqlTimes.push(performance.now() - t0)
  }
  sqlite.close()

  const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path })
  const pool = new Pool(service.url, { connections: 8 })
  const measure = async (path: (i: number) => string, CONCURRENCY = 1): Promise<number[]> => {
    const times: number[] = []
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++
        const t0 = performance.now()
        const r = await pool.request({ path: path(i), method: 'GET' })
        const body = await r.body.json() as { items?: unknown[] }
        times.push(performance.now() - t0)
        if (r.statusCode !== 200 || (path(0) !== '/healthz' && body.items?.length !== 100)) throw new Error(`unexpected answer ${r.statusCode}`)
      }
    }))
    return times.sort((a, b) => a - b)
  }
  try {
    await measure(i => `/api/event/user-${i % USERS}`, 8) // warm-up
    const api1 = await measure(i => `/api/event/user-${(i * 7919) % USERS}`, 1)
    const api8 = await measure(i => `/api/event/user-${(i * 7919) % USERS}`, 8)
    const floor = await measure(() => '/healthz', 1)
    sqlTimes.sort((a, b) => a - b)
    const line = (name: string, times: number[]): void => {
      console.log(`${name.padEnd(44)} p50 ${fmt(percentile(times, 0.5), 2)} ms, p99 ${fmt(percentile(times, 0.99), 2)} ms`)
    }
    section(`query (${fmt(EVENTS)} events, ${fmt(USERS)} users, 100 items per page, ${fmt(REQUESTS)} requests each)`)
    line('GET /api/event/{user_id}, 1 at a time:', api1)
    line('GET /api/event/{user_id}, 8 concurrent:', api8)
    console.log(`  (8 concurrent: ${fmt(REQUESTS / (api8.reduce((a, b) => a + b, 0) / 8 / 1000))} requests/s; goal p99 <= 5 ms)`)
    line('same SQL + JSON.parse in-process:', sqlTimes)
    line('GET /healthz, 1 at a time (HTTP floor):', floor)
  } finally {
    await pool.close()
    await service.stop()
  }
} finally {
  await nats.remove()
  await data.remove()
}
