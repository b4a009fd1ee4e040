// Shared pieces of the bench scripts: a throwaway nats-server and data dir, the service as a
// child process, and small statistics. Everything listens on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { startNatsServer, type NatsServer } from '../src/store/nats-server.js'

export async function tempDir (prefix: string): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

export async function benchNats (): Promise<NatsServer & { remove: () => Promise<void> }> {
  const dir = await tempDir('jetway-bench-nats-')
  const server = await startNatsServer({ port: -1, storeDir: dir.path })
  return { ...server, remove: async () => { await server.stop(); await dir.remove() } }
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

export async function spawnService (env: Record<string, string>): Promise<{ url: string, child: ChildProcess, stop: () => Promise<void> }> {
  const port = await freePort()
  const profile = process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: String(port), ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 600; i++) {
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
