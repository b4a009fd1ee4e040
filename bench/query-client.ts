// A child of bench/query.ts: the searching client, in a process of its own so that neither the
// bench's fill of 1M rows (its heap) nor its ingest generator slows the measured client. It
// warms up, then sends REQUESTS GETs over CONCURRENCY connections and reports each latency (ms)
// over IPC. Bodies are read as text and their items counted, not parsed: the client shares the
// two cores with the service.
import { Pool } from 'undici'

const url = process.env.URL!
const paths = process.env.PATHS! // 'search' | 'healthz'
const concurrency = Number(process.env.CONCURRENCY)
const requests = Number(process.env.REQUESTS)
const minItems = Number(process.env.MIN_ITEMS)
const users = Number(process.env.USERS)
const offset = Number(process.env.OFFSET ?? 0)

const pool = new Pool(url, { connections: concurrency })
const path = (i: number): string => paths === 'healthz' ? '/healthz' : `/api/event/user-${(i * 7919 + offset) % users}`

async function run (count: number, first: number): Promise<number[]> {
  const times: number[] = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = first + next++
      const t0 = performance.now()
      const r = await pool.request({ path: path(i), method: 'GET' })
      const body = await r.body.text()
      times.push(performance.now() - t0)
      if (r.statusCode !== 200 || (paths !== 'healthz' && itemsIn(body) < minItems)) throw new Error(`unexpected answer ${r.statusCode}: ${body.slice(0, 200)}`)
    }
  }))
  return times
}

/** items in a search answer, counted without parsing it */
function itemsIn (body: string): number {
  let count = 0
  for (let at = body.indexOf('{"event_id":'); at !== -1; at = body.indexOf('{"event_id":', at + 1)) count++
  return count
}

await run(Math.min(2000, requests), users) // warm-up: this process's JIT and connections
process.send!({ times: await run(requests, 0) })
await pool.close()
