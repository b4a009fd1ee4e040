import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface NatsServerOptions {
  /** -1 picks a free port */
  port: number
  storeDir: string
  host?: string
  binary?: string
}

export interface NatsServer {
  url: string
  process: ChildProcess
  stop: () => Promise<void>
}

/**
 * Starts a nats-server child with JetStream. The embedded default of `npm start`, and the
 * fallback of the test helper. The server writes its real port to a ports file, as
 * nats.js's own tests do, so `-p -1` needs no port guessing.
 */
export async function startNatsServer (opts: NatsServerOptions): Promise<NatsServer> {
  const portsDir = join(opts.storeDir, 'ports')
  await mkdir(portsDir, { recursive: true })
  const args = ['-js', '-sd', opts.storeDir, '-a', opts.host ?? '127.0.0.1', '-p', String(opts.port),
    '--ports_file_dir', portsDir, '--server_name', 'jetway']
  const child = spawn(opts.binary ?? 'nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  let exited = false
  // If this process ends without stop() (a crash, process.exit), take the child along.
  const killChild = (): void => { child.kill('SIGKILL') }
  process.once('exit', killChild)
  const exit = new Promise<void>(resolve => child.once('exit', () => { exited = true; process.off('exit', killChild); resolve() }))
  const spawnError = new Promise<never>((_resolve, reject) => child.once('error', reject))

  const stop = async (): Promise<void> => {
    if (exited) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exit
    clearTimeout(timer)
  }

  const portsFile = `nats-server_${child.pid}.ports`
  const deadline = Date.now() + 10_000
  while (true) {
    const ready = await Promise.race([spawnError, (async () => {
      if (exited) throw new Error(`nats-server exited at start: ${lastLine(stderr)}`)
      if (!(await readdir(portsDir)).includes(portsFile)) return undefined
      const ports = JSON.parse(await readFile(join(portsDir, portsFile), 'utf8')) as { nats: string[] }
      return ports.nats[0]
    })()]).catch(async (err: NodeJS.ErrnoException) => {
      await stop()
      if (err.code === 'ENOENT') throw new Error('nats-server is not on PATH: install it (Debian: apt-get install nats-server) or set NATS_URL')
      throw err
    })
    if (ready !== undefined) return { url: ready, process: child, stop }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`nats-server did not start in 10s: ${lastLine(stderr)}`)
    }
    await sleep(25)
  }
}

function lastLine (text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ') || '(no output)'
}
