import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { binaryVersion, planSync, type Durability, type NatsSync } from './durability.js'

export interface NatsServerOptions {
  /** -1 picks a free port */
  port: number
  storeDir: string
  host?: string
  binary?: string
  /** server_name (default `jetway`): each node of a cluster needs its own */
  serverName?: string
  /** further command-line flags, e.g. a cluster node's --cluster, --routes and --cluster_name */
  args?: string[]
  /** NATS_SYNC; default: fsync every write before its ack where the server can (2.10+) */
  sync?: NatsSync
}

export interface NatsServer {
  url: string
  process: ChildProcess
  stop: () => Promise<void>
  /** pid of a nats-server left running on this store by a process that died, stopped before this start */
  replacedPid?: number
  /** what its acknowledgements survive (sync_interval), and why not more (logged once by the caller) */
  durability: Durability
  syncWarning?: string
}

/** The config file of the embedded server, in its store dir: the settings that have no flag. */
export const CONFIG_FILE = 'jetway-nats.conf'

export const PID_FILE = 'nats-server.pid'

/**
 * Starts a nats-server child with JetStream. The embedded default of `npm start`, and the
 * fallback of the test helper. The server writes its real port to a ports file, as
 * nats.js's own tests do, so `-p -1` needs no port guessing.
 *
 * A child outlives a parent killed with SIGKILL (no exit handler runs), and would keep the
 * port and the store. So the store dir holds a pid file (`nats-server.pid`: the server's pid,
 * then its owner's); a start first stops the nats-server it names, if that process still runs
 * this store and its owner is gone. Anything else the file may name (a reused pid) is left alone.
 */
export async function startNatsServer (opts: NatsServerOptions): Promise<NatsServer> {
  const storeDir = resolve(opts.storeDir)
  const portsDir = join(storeDir, 'ports')
  await mkdir(portsDir, { recursive: true })
  const replacedPid = await stopStaleServer(storeDir)
  const binary = opts.binary ?? 'nats-server'
  // sync_interval has no command-line flag: it goes in a config file, which the flags then
  // override. A 2.9 server refuses the setting (unknown field), so it is written only for 2.10+.
  const version = await binaryVersion(binary).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error('nats-server is not on PATH: install it (Debian: apt-get install nats-server) or set NATS_URL')
    throw err
  })
  const sync = planSync(version, opts.sync ?? { mode: 'auto' })
  const configArgs: string[] = []
  const file = join(storeDir, CONFIG_FILE)
  if (sync.jetstreamSetting === undefined) await rm(file, { force: true })
  else {
    await writeFile(file, `# written by Jetway at each start (src/store/nats-server.ts)\njetstream {\n  ${sync.jetstreamSetting}\n}\n`)
    configArgs.push('-c', file)
  }
  const args = [...configArgs, '-js', '-sd', storeDir, '-a', opts.host ?? '127.0.0.1', '-p', String(opts.port),
    '--ports_file_dir', portsDir, '--server_name', opts.serverName ?? 'jetway', ...(opts.args ?? [])]
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  let exited = false
  const pidFile = join(storeDir, PID_FILE)
  // If this process ends without stop() (a crash, process.exit), take the child along.
  const killChild = (): void => { child.kill('SIGKILL') }
  process.once('exit', killChild)
  const exit = new Promise<void>(resolve => child.once('exit', () => { exited = true; process.off('exit', killChild); resolve() }))
  const spawnError = new Promise<never>((_resolve, reject) => child.once('error', reject))
  if (child.pid !== undefined) await writeFile(pidFile, `${child.pid}\n${process.pid}\n`)

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exit
      clearTimeout(timer)
    }
    if ((await readPidFile(pidFile))?.pid === child.pid) await rm(pidFile, { force: true })
  }

  const portsFile = `nats-server_${child.pid}.ports`
  const deadline = Date.now() + 10_000
  while (true) {
    const ready = await Promise.race([spawnError, (async () => {
      if (exited) throw new Error(`nats-server exited at start: ${lastLine(stderr)}`)
      if (!(await readdir(portsDir)).includes(portsFile)) return undefined
      // the server may not have finished writing it: not ready until it parses
      const text = await readFile(join(portsDir, portsFile), 'utf8')
      try {
        return (JSON.parse(text) as { nats: string[] }).nats[0]
      } catch {
        return undefined
      }
    })()]).catch(async (err: NodeJS.ErrnoException) => {
      await stop()
      if (err.code === 'ENOENT') throw new Error('nats-server is not on PATH: install it (Debian: apt-get install nats-server) or set NATS_URL')
      throw err
    })
    if (ready !== undefined) {
      return {
        url: ready,
        process: child,
        stop,
        durability: sync.durability,
        ...(sync.warning === undefined ? {} : { syncWarning: sync.warning }),
        ...(replacedPid === undefined ? {} : { replacedPid })
      }
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`nats-server did not start in 10s: ${lastLine(stderr)}`)
    }
    await sleep(25)
  }
}

/**
 * Stops the nats-server named by the store's pid file when it is one (its command line is a
 * nats-server on this store dir) and its owner is gone (it is no longer that process's child).
 * Returns its pid, or undefined when there was none to stop.
 */
export async function stopStaleServer (storeDir: string): Promise<number | undefined> {
  const pidFile = join(storeDir, PID_FILE)
  const named = await readPidFile(pidFile)
  if (named === undefined) return undefined
  const proc = await procInfo(named.pid)
  if (proc === undefined || !isNatsServerOn(proc.argv, storeDir)) {
    // a pid file from a clean stop that was not removed, or a pid reused by something else
    await rm(pidFile, { force: true })
    return undefined
  }
  if (named.owner !== undefined && named.owner !== process.pid && proc.ppid === named.owner) {
    throw new Error(`the nats-server on ${storeDir} (pid ${named.pid}) belongs to process ${named.owner}, which is still running: ` +
      'stop that Jetway first, or give this one its own DATA_DIR, or set NATS_URL to use that server')
  }
  process.kill(named.pid, 'SIGTERM')
  if (!(await gone(named.pid, 5000))) {
    process.kill(named.pid, 'SIGKILL')
    if (!(await gone(named.pid, 5000))) throw new Error(`the stale nats-server on ${storeDir} (pid ${named.pid}) did not stop`)
  }
  await rm(pidFile, { force: true })
  return named.pid
}

async function readPidFile (file: string): Promise<{ pid: number, owner?: number } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const [pid, owner] = (text ?? '').split('\n').map(l => Number(l.trim()))
  if (pid === undefined || !Number.isSafeInteger(pid) || pid <= 1) return undefined
  return { pid, ...(owner !== undefined && Number.isSafeInteger(owner) && owner > 0 ? { owner } : {}) }
}

/** argv and parent pid of a live (not zombie) process, from /proc; undefined if none or unknown. */
async function procInfo (pid: number): Promise<{ argv: string[], ppid: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (state === 'Z' || state === 'X') return undefined
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(a => a !== '')
    return { argv, ppid: Number(ppid) }
  } catch {
    return undefined
  }
}

function isNatsServerOn (argv: string[], storeDir: string): boolean {
  if (argv[0] === undefined || !basename(argv[0]).startsWith('nats-server')) return false
  const sd = argv.findIndex(a => a === '-sd' || a === '--store_dir' || a === '-store_dir')
  return sd >= 0 && argv[sd + 1] !== undefined && resolve(argv[sd + 1]!) === storeDir
}

async function gone (pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await procInfo(pid) === undefined) return true
    await sleep(20)
  }
  return false
}

function lastLine (text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ') || '(no output)'
}
