import { Worker } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { SequenceWatch } from '../lib/concurrency.js'
import { projectionsFor } from './index.js'
import type { ProjectionHost, RunnerHandle, TickerStats } from './host.js'

// The HTTP thread's side of the projection thread (thread.ts): it starts the worker, mirrors
// each runner's state from the worker's messages (so read-your-writes waits wake on the
// commit's message, not by polling SQLite), forwards the worker's log lines to this process's
// logger, and starts a new worker if one dies.

/** What the projection thread is given. */
export interface ThreadData {
  config: Config
  natsUrl: string
}

export interface RunnerState {
  name: string
  appliedSeq: number
  pending: number
  caughtUp: boolean
  rebuilding: boolean
  holding: boolean
}

export type ToThread =
  | { type: 'call', id: number, op: 'start' | 'stop' | 'reset', name: string, rebuilding?: boolean }
  | { type: 'close' }

export type FromThread =
  | { type: 'ready' }
  | { type: 'state', state: RunnerState }
  | { type: 'fired', fired: number, lastFireLagMs: number }
  | { type: 'log', line: string }
  | { type: 'reply', id: number, error?: string }
  | { type: 'closed' }

const THREAD_NAME = 'projections'
const RESTART_MS = 1000
const CLOSE_MS = 10_000

class RemoteRunner implements RunnerHandle {
  appliedSeq = 0
  pending = 0
  caughtUp = false
  rebuilding = false
  holding = false
  private readonly applied = new SequenceWatch()

  constructor (readonly name: string, private readonly call: (op: 'start' | 'stop' | 'reset', name: string, rebuilding?: boolean) => Promise<void>) {}

  update (state: RunnerState): void {
    this.appliedSeq = state.appliedSeq
    this.pending = state.pending
    this.caughtUp = state.caughtUp
    this.rebuilding = state.rebuilding
    this.holding = state.holding
    this.applied.notify(state.appliedSeq)
  }

  async changed (): Promise<void> { return await this.applied.changed() }
  async waitFor (seq: number, timeoutMs: number): Promise<boolean> { return await this.applied.waitFor(seq, timeoutMs) }
  async start (): Promise<void> { await this.call('start', this.name) }
  async stop (): Promise<void> { await this.call('stop', this.name) }
  async reset (opts: { rebuilding?: boolean } = {}): Promise<void> { await this.call('reset', this.name, opts.rebuilding) }
}

/** The host of the projection thread. */
export interface ProjectionThread extends ProjectionHost {
  /**
   * Ends the thread at once, wherever it is (mid-batch, mid-transaction), as a crash would; the
   * host starts a new one as after any crash. For tests: resolves once the thread is gone.
   */
  crash: () => Promise<void>
}

/** Starts the projection thread; resolves once every runner in it has started. */
export async function startProjectionThread (config: Config, natsUrl: string, log: Logger): Promise<ProjectionThread> {
  const threadLog = log.child({ thread: THREAD_NAME })
  const calls = new Map<number, { resolve: () => void, reject: (err: Error) => void }>()
  let nextId = 0
  let worker: Worker
  /** the current worker has exited (crashed, a new one not started yet) */
  let gone = false
  let closing = false
  const call = async (op: 'start' | 'stop' | 'reset', name: string, rebuilding?: boolean): Promise<void> => {
    if (gone) throw new Error('the projection thread is starting again after a crash; call again in a moment')
    const id = ++nextId
    const done = new Promise<void>((resolve, reject) => calls.set(id, { resolve, reject }))
    worker.postMessage({ type: 'call', id, op, name, rebuilding } satisfies ToThread)
    return await done
  }
  const runners = new Map<string, RemoteRunner>(projectionsFor(config).map(p => [p.name, new RemoteRunner(p.name, call)]))
  const ticker: TickerStats = { fired: 0, lastFireLagMs: 0 }
  let firedBefore = 0 // by workers that died: the counter only grows

  const spawn = async (): Promise<void> => {
    worker = new Worker(THREAD_FILE, {
      name: THREAD_NAME,
      execArgv: threadExecArgv(),
      workerData: { config, natsUrl } satisfies ThreadData
    })
    const current = worker
    gone = false
    let onReady!: () => void
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve
      current.once('exit', code => reject(new Error(`the projection thread exited (code ${code}) before it was ready`)))
    })
    current.on('message', (m: FromThread) => {
      switch (m.type) {
        case 'ready': onReady(); break
        case 'state': runners.get(m.state.name)?.update(m.state); break
        case 'fired': ticker.fired = firedBefore + m.fired; ticker.lastFireLagMs = m.lastFireLagMs; break
        case 'log': relayLog(threadLog, m.line); break
        case 'reply': {
          const pending = calls.get(m.id)
          calls.delete(m.id)
          if (m.error === undefined) pending?.resolve()
          else pending?.reject(new Error(m.error))
          break
        }
        case 'closed': break
      }
    })
    current.on('error', err => threadLog.error({ err }, 'the projection thread failed'))
    current.on('exit', code => {
      gone = true
      for (const pending of calls.values()) pending.reject(new Error('the projection thread exited'))
      calls.clear()
      if (closing) return
      firedBefore = ticker.fired
      threadLog.error({ code }, `the projection thread exited; starting a new one in ${RESTART_MS} ms`)
      sleep(RESTART_MS).then(async () => { if (!closing) await spawn() })
        .catch((err: unknown) => threadLog.error({ err }, 'the projection thread did not start again'))
    })
    await ready
  }

  await spawn()
  threadLog.info({ threadId: worker!.threadId, projections: [...runners.keys()] }, 'projections and the timer ticker run in their own thread')
  return {
    runners,
    ticker,
    // the thread started again after a crash has another id
    get thread () { return `${THREAD_NAME}#${worker.threadId}` },
    crash: async () => {
      const exited = new Promise(resolve => worker.once('exit', resolve))
      await worker.terminate()
      await exited
    },
    close: async () => {
      closing = true
      // (between a crash and the new thread's start there is nothing to close)
      if (gone) return
      const exited = new Promise(resolve => worker.once('exit', resolve))
      worker.postMessage({ type: 'close' } satisfies ToThread)
      const timer = setTimeout(() => { worker.terminate().catch(() => {}) }, CLOSE_MS)
      await exited
      clearTimeout(timer)
    }
  }
}

const THREAD_FILE = new URL('./thread.ts', import.meta.url)

/**
 * The thread's Node flags: the process's own, with its TypeScript loaded by tsx, the loader
 * Jetway runs under (`npm start`, the Dockerfile), and without a test runner's hooks. Under tap,
 * every thread a test started loaded the TypeScript compiler (ts-node) and tap's coverage hooks,
 * which cannot see modules tsx loads anyway: measured under tap with coverage, a thread's start
 * cost about 2.2 s of CPU with ts-node, 2 s with tsx and tap's hooks, 1 s with tsx alone.
 */
function threadExecArgv (): string[] {
  const args = process.execArgv.filter(a => !/ts-node|@tapjs\//.test(a))
  return args.some(a => /(^|[=/\s])tsx(\/|$)/.test(a)) ? args : ['--import=tsx', ...args]
}

/** A pino line from the thread, logged again by this thread's logger at its level. */
function relayLog (log: Logger, line: string): void {
  let record: Record<string, unknown>
  try {
    record = JSON.parse(line) as Record<string, unknown>
  } catch {
    log.info({ line }, 'unreadable log line from the projection thread')
    return
  }
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, service: _service, thread: _thread, ...fields } = record
  const label = typeof level === 'number' ? log.levels.labels[level] : undefined
  const method = label === 'trace' || label === 'debug' || label === 'info' || label === 'warn' || label === 'error' || label === 'fatal' ? label : 'info'
  log[method](fields, typeof msg === 'string' ? msg : '')
}
