// npm run bench:ingest — HTTP ingest rates beside the raw JetStream publish rate of the same
// client library, measured in the same run so their ratios hold on a noisy machine.
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
import { benchNats, fmt, section, spawnService, tempDir } from './lib.js'

const EVENTS = Number(process.env.EVENTS ?? 30_000)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64)
const IN_FLIGHT = 256

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
    // 2. single events over HTTP, CONNECTIONS at once
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

    // 3. batches of 500 over 8 connections
    const pool = new Pool(service.url, { connections: 8 })
    const batches = Math.ceil(EVENTS * 2 / 500)
    const t0 = performance.now()
    let accepted = 0
    await mapLimit(Array.from({ length: batches }, (_, b) => b), 8, async b => {
      const events = Array.from({ length: 500 }, (_, i) => ({ event_id: `batch-${b}-${i}`, event: 'view', user_id: `user-${i % 100}`, parameters: { order_id: `o-${i}`, currency: 'KRW', price: 10 } }))
      const r = await pool.request({ path: '/api/collect/batch', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
      const body = await r.body.json() as { accepted: number }
      accepted += body.accepted
    })
    const batchRate = accepted / ((performance.now() - t0) / 1000)
    await pool.close()

    section(`ingest (${fmt(EVENTS)} events per phase; nats-server and service on this machine)`)
    console.log(`raw JetStream publish (nats.js, ${IN_FLIGHT} in flight): ${fmt(rawRate)} events/s`)
    console.log(`HTTP POST /api/collect (${CONNECTIONS} connections):    ${fmt(singleRate)} events/s  = ${fmt(singleRate / rawRate, 2)} of raw (goal >= 0.70); non-2xx/errors: ${non2xx}`)
    console.log(`HTTP POST /api/collect/batch (500/batch, 8 conns):  ${fmt(batchRate)} events/s  = ${fmt(batchRate / rawRate, 2)} of raw (goal >= 0.90)`)
    console.log(`single POST latency: p50 ${single.latency.p50} ms, p99 ${single.latency.p99} ms`)
  } finally {
    await service.stop()
  }
} finally {
  await nats.remove()
  await data.remove()
}
