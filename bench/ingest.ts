// npm run bench:ingest — HTTP ingest rates (single events, the seed's batches, the analytics
// SDKs' /v1/batch) beside the raw JetStream publish rate of the same client library, measured
// in the same run so their ratios hold on a noisy machine; the projection lag while single
// events pour in; the latency of single events at half the rate measured; and what the
// service's HTTP thread went through in each phase (event-loop delay, GC pauses).
//   EVENTS (default 30000) events per phase; CONNECTIONS (default 64) for single POSTs.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { Pool } from 'undici'
import { pino } from 'pino'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../src/config.js'
import { applyStreams, loadStreamConfigs } from '../src/store/streams.js'
import { appendEvent } from '../src/store/events.js'
import { Events } from '../src/schema/events/index.js'
import { mapLimit } from '../src/lib/concurrency.js'
import { microTimeOf } from '../src/lib/time.js'
import { benchNats, cpuOf, fmt, fmtStalls, paced, stallMeter, isMain, percentile, report, section, spawnService, tempDir, type Figure } from './lib.js'

const IN_FLIGHT = 256
/** how often the lag probe writes one event and reads it back with its sequence */
const PROBE_EVERY_MS = 20

export interface IngestOptions {
  events?: number
  connections?: number
}

export async function ingestBench (opts: IngestOptions = {}): Promise<Figure[]> {
  const EVENTS = opts.events ?? 30_000
  const CONNECTIONS = opts.connections ?? 64
  const nats = await benchNats()
  const data = await tempDir('jetway-bench-data-')
  try {
    // 1. raw: the same envelope, appended by the same client library, 256 in flight
    const nc = await connect({ servers: nats.url, noAsyncTraces: true })
    await applyStreams(await jetstreamManager(nc), await loadStreamConfigs(loadConfig({})), pino({ level: 'warn' }))
    const js = jetstream(nc)
    const now = microTimeOf(new Date())
    const raw = async (n: number): Promise<number> => {
      const t0 = performance.now()
      await mapLimit(Array.from({ length: n }, (_, i) => i), IN_FLIGHT, async i => await appendEvent(js, {
        def: Events.collectEventReceived,
        data: { event_id: `raw-${randomUUID()}`, event: 'purchase', user_id: `user-${i % 1000}`, parameters: { order_id: `o-${i}`, currency: 'KRW', price: 1200.5 }, event_datetime: now, received_at: now },
        subject: `collect.user.user-${i % 1000}.purchase`,
        source: '/jetway/bench',
        idempotencyKey: `raw-${randomUUID()}`,
        time: new Date()
      }))
      return n / ((performance.now() - t0) / 1000)
    }
    await raw(2000) // warm-up
    const rawRate = await raw(EVENTS)
    await nc.close()

    const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path })
    try {
      const probes = new Pool(service.url, { connections: 2 })
      // 2. single events over HTTP, CONNECTIONS at once; beside them a probe writes one event
      // every PROBE_EVERY_MS and reads it back with its jetway-seq: the read waits until the
      // projection has applied it, so write-answered -> readable is the lag a client sees
      const lags: number[] = []
      const probing = { on: true }
      const probe = (async () => {
        for (let i = 0; probing.on; i++) {
          const w = await probes.request({ path: '/api/collect', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event_id: `probe-${i}`, event: 'probe', user_id: 'prober' }) })
          await w.body.dump()
          const t0 = performance.now()
          const r = await probes.request({ path: `/api/event/prober?event=probe&limit=1&min_seq=${String(w.headers['jetway-seq'])}`, method: 'GET' })
          await r.body.dump()
          if (r.statusCode === 200) lags.push(performance.now() - t0)
          await new Promise(resolve => setTimeout(resolve, PROBE_EVERY_MS))
        }
      })()
      const singleStalls = await stallMeter(service.url)
      const s0 = performance.now()
      const single = await autocannon({
        url: `${service.url}/api/collect`,
        method: 'POST',
        connections: CONNECTIONS,
        amount: EVENTS,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_id: '[<id>]', event: 'purchase', user_id: 'user-1', parameters: { order_id: 'o-1', currency: 'KRW', price: 1200.5 } }),
        idReplacement: true
      })
      // autocannon's own duration is rounded; time the run here
      const singleRate = single.requests.total / ((performance.now() - s0) / 1000)
      const non2xx = single.non2xx + single.errors
      probing.on = false
      await probe
      await probes.close()
      const singleStalled = await singleStalls.stop()

      // 2b. single events at half the rate just measured: the latency of a service not at its limit
      const halfRate = Math.max(1, Math.round(singleRate / 2))
      const halfStalls = await stallMeter(service.url)
      const halfTimes: number[] = []
      let halfFailed = 0
      const halfPool = new Pool(service.url, { connections: CONNECTIONS })
      await paced(halfRate, Math.min(EVENTS, halfRate * 10), async i => {
        const t0 = performance.now()
        const r = await halfPool.request({ path: '/api/collect', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event_id: `half-${i}`, event: 'purchase', user_id: 'user-2', parameters: { order_id: 'o-1', currency: 'KRW', price: 1200.5 } }) })
        await r.body.dump()
        if (r.statusCode === 200) halfTimes.push(performance.now() - t0)
        else halfFailed++
      })
      await halfPool.close()
      halfTimes.sort((a, b) => a - b)
      const half = { p50: percentile(halfTimes, 0.5), p99: percentile(halfTimes, 0.99), failed: halfFailed }
      const halfStalled = await halfStalls.stop()

      // 3. batches of 500 over 8 connections
      const pool = new Pool(service.url, { connections: 8 })
      const batches = Math.ceil(EVENTS * 2 / 500)
      const batchStalls = await stallMeter(service.url)
      const cpu0 = cpuOf(service.child.pid)
      const t0 = performance.now()
      let accepted = 0
      await mapLimit(Array.from({ length: batches }, (_, b) => b), 8, async b => {
        const events = Array.from({ length: 500 }, (_, i) => ({ event_id: `batch-${b}-${i}`, event: 'view', user_id: `user-${i % 100}`, parameters: { order_id: `o-${i}`, currency: 'KRW', price: 10 } }))
        const r = await pool.request({ path: '/api/collect/batch', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
        const body = await r.body.json() as { accepted: number }
        accepted += body.accepted
      })
      const batchRate = accepted / ((performance.now() - t0) / 1000)
      const batchCpu = (cpuOf(service.child.pid) - cpu0) / accepted
      const batchStalled = await batchStalls.stop()

      // 4. the analytics SDKs' /v1/batch, 100 messages a request (Segment's and RudderStack's
      // Node SDKs send up to flushAt at once) over 8 connections, as analytics-node sends them:
      // track messages with a messageId, timestamp and context, the batch's sentAt
      const sdkRequests = Math.ceil(EVENTS * 2 / 100)
      const sdkStalls = await stallMeter(service.url)
      const cpu1 = cpuOf(service.child.pid)
      const s1 = performance.now()
      let stored = 0
      await mapLimit(Array.from({ length: sdkRequests }, (_, b) => b), 8, async b => {
        const sentAt = new Date().toISOString()
        const batch = Array.from({ length: 100 }, (_, i) => ({
          type: 'track',
          userId: `user-${i % 100}`,
          event: 'Order Completed',
          properties: { order_id: `o-${b}-${i}`, currency: 'KRW', price: 10 },
          messageId: `sdk-${b}-${i}`,
          timestamp: sentAt,
          context: { library: { name: '@segment/analytics-node', version: '3.1.0' } },
          integrations: {}
        }))
        const r = await pool.request({ path: '/v1/batch', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch, sentAt }) })
        const body = await r.body.json() as { success: boolean }
        if (r.statusCode === 200 && body.success) stored += batch.length
      })
      const sdkRate = stored / ((performance.now() - s1) / 1000)
      const sdkCpu = (cpuOf(service.child.pid) - cpu1) / stored
      const sdkStalled = await sdkStalls.stop()
      await pool.close()

      lags.sort((a, b) => a - b)
      section(`ingest (${fmt(EVENTS)} events per phase; nats-server and service on this machine)`)
      console.log(`raw JetStream publish (nats.js, ${IN_FLIGHT} in flight): ${fmt(rawRate)} events/s`)
      console.log(`HTTP POST /api/collect (${CONNECTIONS} connections):    ${fmt(singleRate)} events/s  = ${fmt(singleRate / rawRate, 2)} of raw; non-2xx/errors: ${non2xx}`)
      console.log(`HTTP POST /api/collect/batch (500/batch, 8 conns):  ${fmt(batchRate)} events/s  = ${fmt(batchRate / rawRate, 2)} of raw`)
      console.log(`HTTP POST /v1/batch (SDK messages, 100/batch, 8 conns): ${fmt(sdkRate)} events/s  = ${fmt(sdkRate / rawRate, 2)} of raw; stored ${fmt(stored)} of ${fmt(sdkRequests * 100)}`)
      // CPU time of the service process (HTTP and projection threads) per event stored: what a
      // path costs, whatever else shares the machine
      if (Number.isFinite(batchCpu) && Number.isFinite(sdkCpu)) console.log(`service CPU per event: /api/collect/batch ${fmt(batchCpu, 1)} µs, /v1/batch ${fmt(sdkCpu, 1)} µs`)
      console.log(`single POST latency at the limit: p50 ${single.latency.p50} ms, p99 ${single.latency.p99} ms`)
      console.log(`single POST latency at half of it (${fmt(halfRate)}/s, ${CONNECTIONS} connections, sent on schedule): p50 ${fmt(half.p50, 2)} ms, p99 ${fmt(half.p99, 2)} ms; non-2xx/errors: ${half.failed}`)
      console.log('the service\'s HTTP thread meanwhile:')
      console.log(`  single events at the limit:   ${fmtStalls(singleStalled)}`)
      console.log(`  single events at half of it:  ${fmtStalls(halfStalled)}`)
      console.log(`  /api/collect/batch:           ${fmtStalls(batchStalled)}`)
      console.log(`  /v1/batch:                    ${fmtStalls(sdkStalled)}`)
      console.log(`projection lag (write answered -> readable), ${lags.length} probes: p50 ${fmt(percentile(lags, 0.5), 1)} ms, p99 ${fmt(percentile(lags, 0.99), 1)} ms, max ${fmt(lags.at(-1) ?? NaN, 1)} ms`)
      const rawLimit = `${fmt(rawRate)}/s raw JetStream publish`
      return [
        { figure: 'HTTP single-event ingest ÷ raw JetStream publish', value: `${fmt(singleRate)}/s`, limit: rawLimit, ratio: singleRate / rawRate, goal: '≥ 0.5', met: singleRate / rawRate >= 0.5 && non2xx === 0, stalls: singleStalled },
        { figure: 'single-event ingest p99 at half the measured maximum', value: `${fmt(half.p99, 2)} ms (p50 ${fmt(half.p50, 2)} ms)`, limit: `${fmt(halfRate)}/s of ${fmt(singleRate)}/s`, goal: '≤ 10 ms', met: half.p99 <= 10 && half.failed === 0, stalls: halfStalled },
        { figure: 'HTTP batch ingest (500 per request) ÷ raw publish', value: `${fmt(batchRate)}/s`, limit: rawLimit, ratio: batchRate / rawRate, goal: '≥ 0.85', met: batchRate / rawRate >= 0.85, stalls: batchStalled },
        { figure: 'SDK /v1/batch ingest (100 per request) ÷ raw publish', value: `${fmt(sdkRate)}/s`, limit: rawLimit, ratio: sdkRate / rawRate, goal: '≥ 0.85', met: sdkRate / rawRate >= 0.85 && stored === sdkRequests * 100, stalls: sdkStalled },
        { figure: 'projection lag while ingesting single events, p99', value: `${fmt(percentile(lags, 0.99), 1)} ms`, limit: `at ${fmt(singleRate)}/s`, goal: '≤ 250 ms', met: percentile(lags, 0.99) <= 250 }
      ]
    } finally {
      await service.stop()
    }
  } finally {
    await nats.remove()
    await data.remove()
  }
}

if (isMain(import.meta.url)) {
  report(await ingestBench({ events: Number(process.env.EVENTS ?? 30_000), connections: Number(process.env.CONNECTIONS ?? 64) }))
}
