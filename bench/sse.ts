// npm run bench:sse — job notifications over SSE, with a service child on 127.0.0.1.
//  1. end-to-end latency: POST /noti/complete/{id} -> the status event at an SSE client, at
//     RATE completions/s (default 500) for SECONDS (default 10); beside it, in the same run, the
//     raw JetStream floor: publish -> ordered-consumer delivery at the same rate.
//  2. fan-out: FANOUT (default 1000,10000,19900) SSE connections on one instance; RSS of the
//     service, and the time for one status event to reach all of them.
// Beside each: what the service's HTTP thread went through (event-loop delay, GC pauses, from
// its /metrics), its CPU time per completion, and its RSS idle (just started) and loaded.
// BENCH_SPLIT_WORKERS=1 runs the workers (the completion worker among them) in a second
// service process (ROLES=workers), off the HTTP thread that serves the SSE clients.
// The npm script raises the open-files limit first (each connection is a socket at both ends).
import http from 'node:http'
import { fork } from 'node:child_process'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream'
import { Pool } from 'undici'
import { allocationProfile, benchNats, cpuOf, fmt, fmtStalls, isMain, paced, percentile, report, rssOf, section, spawnService, stallMeter, tempDir, type Figure } from './lib.js'

export interface SseOptions {
  rate?: number
  seconds?: number
  /** connection counts of the fan-out runs; the figure is taken at the last */
  fanout?: number[]
}

/** A minimal SSE client: calls onEvent(id, data) per event; resolves once the response is open. */
async function sse (url: string, onEvent: (id: number, data: string) => void): Promise<http.ClientRequest> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, res => {
      if (res.statusCode !== 200) { reject(new Error(`SSE answered ${res.statusCode}`)); return }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let end
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const id = /^id: (\d+)$/m.exec(block)
          const data = /^data: (.*)$/m.exec(block)
          if (id !== null && data !== null) onEvent(Number(id[1]), data[1]!)
        }
      })
      resolve(req)
    })
    req.on('error', reject)
  })
}

/** The same clients against bench/sse-floor.ts: what one loop of writes to n sockets costs here. */
async function broadcastFloor (n: number): Promise<{ p50: number, p99: number }> {
  const server = fork('bench/sse-floor.ts', [], { execArgv: ['--import', 'tsx'] })
  try {
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      server.once('message', m => resolve(m as { port: number }))
      server.once('exit', code => reject(new Error(`the floor's server exited ${String(code)}`)))
    })
    const children = Array.from({ length: Math.ceil(n / 5000) }, (_, k) => fork('bench/sse-clients.ts', [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, URL: `http://127.0.0.1:${port}/`, COUNT: String(Math.min(5000, n - k * 5000)) }
    }))
    await Promise.all(children.map(async c => await new Promise<void>((resolve, reject) => {
      c.once('message', () => resolve())
      c.once('exit', code => reject(new Error(`client process exited ${String(code)}`)))
    })))
    const reports = children.map(async c => await new Promise<bigint[]>(resolve => c.once('message', (m: { arrivals: string[] }) => resolve(m.arrivals.map(BigInt)))))
    await new Promise(resolve => setTimeout(resolve, 1000))
    const sent = process.hrtime.bigint()
    await fetch(`http://127.0.0.1:${port}/fire`, { method: 'POST' })
    const arrived = (await Promise.all(reports)).flat().map(t => Number(t - sent) / 1e6).sort((a, b) => a - b)
    for (const c of children) c.send({ close: true })
    await Promise.all(children.map(async c => await new Promise(resolve => c.once('exit', resolve))))
    return { p50: percentile(arrived, 0.5), p99: percentile(arrived, 0.99) }
  } finally {
    if (server.exitCode === null) {
      server.send({ stop: true })
      await new Promise(resolve => server.once('exit', resolve))
    }
  }
}

export async function sseBench (opts: SseOptions = {}): Promise<Figure[]> {
  const RATE = opts.rate ?? 500
  const SECONDS = opts.seconds ?? 10
  // this machine allows 20,000 open files per process, the service's own NATS and SQLite included
  const FANOUT = opts.fanout ?? [1000, 10_000, 19_900]
  const nats = await benchNats()
  const data = await tempDir('jetway-bench-sse-')
  // one user holds every fan-out connection here: lift the per-user cap (default 100) for the bench
  const split = process.env.BENCH_SPLIT_WORKERS === '1'
  const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: data.path, SSE_HEARTBEAT: '15s', SSE_MAX_CONNECTIONS: '25000', SSE_MAX_PER_USER: '25000', ...(split ? { ROLES: 'api,projections' } : {}) })
  const workersOnly = split ? await spawnService({ NATS_URL: nats.url, DATA_DIR: `${data.path}/w`, ROLES: 'workers' }) : undefined
  // idle: started, caught up, nothing asked of it yet
  await new Promise(resolve => setTimeout(resolve, 2000))
  const idleRss = rssOf(service.child.pid!)
  const pool = new Pool(service.url, { connections: 16 })
  const postJson = async (path: string, body: unknown): Promise<any> => {
    const r = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return await r.body.json()
  }
  try {
    // 1a. raw floor: JetStream publish -> ordered consumer, same rate
    const nc = await connect({ servers: nats.url, noAsyncTraces: true })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'], storage: 'file' as never })
    const js = jetstream(nc)
    const rawLatency: number[] = []
    const sentAt = new Map<string, number>()
    const consumer = await js.consumers.get('BENCH', { deliver_policy: DeliverPolicy.New })
    const messages = await consumer.consume()
    const rawTotal = RATE * SECONDS
    const rawDone = (async () => {
      for await (const m of messages) {
        rawLatency.push(performance.now() - sentAt.get(m.subject)!)
        if (rawLatency.length === rawTotal) break
      }
    })()
    await paced(RATE, rawTotal, async i => {
      sentAt.set(`bench.${i}`, performance.now())
      await js.publish(`bench.${i}`, '{"eventStatus":"Y"}')
    })
    await rawDone
    messages.stop()
    await nc.close()

    // 1b. end to end through Jetway, one SSE client on the user's stream
    const total = RATE * SECONDS
    const ids: string[] = []
    for (let i = 0; i < total; i += 100) {
      ids.push(...await Promise.all(Array.from({ length: Math.min(100, total - i) }, async () => (await postJson('/noti/pub', { eventType: 'TRAINING', userId: 'bench' })).eventId as string)))
    }
    const completedAt = new Map<string, number>()
    const e2e: number[] = []
    let resolveAll: () => void
    const allSeen = new Promise<void>(resolve => { resolveAll = resolve })
    const client = await sse(`${service.url}/noti/users/bench/sub`, (_id, json) => {
      const { eventId } = JSON.parse(json) as { eventId: string }
      e2e.push(performance.now() - completedAt.get(eventId)!)
      if (e2e.length === total) resolveAll()
    })
    const e2eStalls = await stallMeter(service.url)
    const allocations = allocationProfile(service.child)
    const cpu0 = cpuOf(service.child.pid)
    const httpCpu0 = cpuOf(service.child.pid, true)
    await paced(RATE, total, async i => {
      completedAt.set(ids[i]!, performance.now())
      await postJson(`/noti/complete/${ids[i]!}`, { eventStatus: 'Y' })
    })
    await allSeen
    allocations.stop()
    const e2eCpu = (cpuOf(service.child.pid) - cpu0) / total
    const e2eHttpCpu = (cpuOf(service.child.pid, true) - httpCpu0) / total
    const e2eStalled = await e2eStalls.stop()
    client.destroy()
    rawLatency.sort((a, b) => a - b)
    e2e.sort((a, b) => a - b)
    section(`end-to-end latency at ${RATE} completions/s for ${SECONDS} s`)
    console.log(`POST /noti/complete -> SSE client:        p50 ${fmt(percentile(e2e, 0.5), 2)} ms, p99 ${fmt(percentile(e2e, 0.99), 2)} ms `)
    console.log(`raw JetStream publish -> ordered consumer: p50 ${fmt(percentile(rawLatency, 0.5), 2)} ms, p99 ${fmt(percentile(rawLatency, 0.99), 2)} ms`)
    console.log(`service CPU per completion: ${fmt(e2eCpu)} µs, of which its HTTP thread ${fmt(e2eHttpCpu)} µs; that thread meanwhile: ${fmtStalls(e2eStalled)}`)

    // 2. fan-out, the clients spread over processes of at most 5000 connections each
    section('fan-out: one status event to N SSE connections on one instance')
    const baseRss = rssOf(service.child.pid!)
    const fanned: { n: number, p99: number, rss: number, stalls: Awaited<ReturnType<typeof e2eStalls.stop>> }[] = []
    for (const n of FANOUT) {
      const children = Array.from({ length: Math.ceil(n / 5000) }, (_, k) => fork('bench/sse-clients.ts', [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, URL: `${service.url}/noti/users/fan/sub`, COUNT: String(Math.min(5000, n - k * 5000)) }
      }))
      const c0 = performance.now()
      await Promise.all(children.map(async c => await new Promise<void>((resolve, reject) => {
        c.once('message', () => resolve())
        c.once('exit', code => reject(new Error(`client process exited ${String(code)}`)))
      })))
      const connectSeconds = (performance.now() - c0) / 1000
      const rss = rssOf(service.child.pid!)
      const reports = children.map(async c => await new Promise<bigint[]>(resolve => c.once('message', (m: { arrivals: string[] }) => resolve(m.arrivals.map(BigInt)))))
      const { eventId } = await postJson('/noti/pub', { eventType: 'DEPLOY', userId: 'fan' })
      const stalls = await stallMeter(service.url)
      const sent = process.hrtime.bigint()
      await postJson(`/noti/complete/${eventId as string}`, { eventStatus: 'Y' })
      const arrived = (await Promise.all(reports)).flat().map(t => Number(t - sent) / 1e6).sort((a, b) => a - b)
      const stalled = await stalls.stop()
      fanned.push({ n, p99: percentile(arrived, 0.99), rss, stalls: stalled })
      console.log(`${fmt(n).padStart(6)} connections: p50 ${fmt(percentile(arrived, 0.5))} ms, p99 ${fmt(percentile(arrived, 0.99))} ms, last ${fmt(arrived.at(-1)!)} ms; service RSS ${fmt(rss / 2 ** 20)} MiB (${fmt(baseRss / 2 ** 20)} MiB before, ${fmt(idleRss / 2 ** 20)} MiB idle); connected in ${fmt(connectSeconds, 1)} s`)
      console.log(`        its HTTP thread meanwhile: ${fmtStalls(stalled)}`)
      for (const c of children) c.send({ close: true })
      await Promise.all(children.map(async c => await new Promise(resolve => c.once('exit', resolve))))
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    // 2b. the floor at the top count: a bare node:http server's broadcast to as many clients
    const floor = await broadcastFloor(FANOUT.at(-1)!)
    console.log(`${fmt(FANOUT.at(-1)!).padStart(6)} connections to a bare node:http server (the floor): p50 ${fmt(floor.p50)} ms, p99 ${fmt(floor.p99)} ms`)
    const e2eP99 = percentile(e2e, 0.99)
    const rawP99 = percentile(rawLatency, 0.99)
    const top = fanned.at(-1)
    const MiB = (bytes: number): string => `${fmt(bytes / 2 ** 20)} MiB`
    return [
      {
        figure: `SSE completion -> client p99 at ${RATE} events/s`,
        value: `${fmt(e2eP99, 2)} ms (p50 ${fmt(percentile(e2e, 0.5), 2)} ms)`,
        limit: `raw publish -> consumer p99 ${fmt(rawP99, 2)} ms`,
        ratio: e2eP99 / rawP99,
        goal: '≤ 10 ms and ≤ 3× raw',
        met: e2eP99 <= 10 && e2eP99 <= 3 * rawP99,
        stalls: e2eStalled
      },
      {
        figure: 'HTTP thread event-loop delay p99 during that run',
        value: `${fmt(e2eStalled.loopP99Ms, 2)} ms`,
        limit: `service CPU per completion ${fmt(e2eCpu)} µs (HTTP thread ${fmt(e2eHttpCpu)} µs)`,
        goal: '≤ 5 ms',
        met: e2eStalled.loopP99Ms <= 5
      },
      ...(top === undefined
        ? []
        : [{
            figure: `broadcast p99 to ${fmt(top.n)} SSE connections`,
            value: `${fmt(top.p99)} ms`,
            limit: `a bare node:http server's broadcast to as many: p99 ${fmt(floor.p99)} ms (Jetway to ${fmt(fanned[0]!.n)}: ${fmt(fanned[0]!.p99)} ms)`,
            ratio: top.p99 / floor.p99,
            goal: '≤ 250 ms',
            met: top.p99 <= 250,
            stalls: top.stalls
          }, {
            figure: `service RSS with ${fmt(top.n)} SSE connections, and idle`,
            value: `${MiB(top.rss)}, ${MiB(idleRss)}`,
            limit: `${fmt((top.rss - baseRss) / top.n / 1024, 1)} KiB per connection (${MiB(baseRss)} before them)`,
            goal: '≤ 512 MiB, ≤ 150 MiB',
            met: top.rss <= 512 * 2 ** 20 && idleRss <= 150 * 2 ** 20
          }])
    ]
  } finally {
    await pool.close()
    await service.stop()
    await workersOnly?.stop()
    await nats.remove()
    await data.remove()
  }
}

if (isMain(import.meta.url)) {
  report(await sseBench({
    rate: Number(process.env.RATE ?? 500),
    seconds: Number(process.env.SECONDS ?? 10),
    // FANOUT=0: the latency part alone
    fanout: (process.env.FANOUT ?? '1000,10000,19900').split(',').map(Number).filter(n => n > 0)
  }))
}
