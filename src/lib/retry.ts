import { setTimeout as sleep } from 'node:timers/promises'

// The loop every long-running reader shares (projection runners, worker runners, stream
// tails): run, and when it fails, wait with a doubling backoff and run again until stopped.

export interface KeepRunningOptions {
  stopped: () => boolean
  /** called with each failure; return true to run again at once (no backoff) */
  onError: (err: unknown) => boolean | Promise<boolean>
  firstBackoffMs?: number
  maxBackoffMs?: number
  /** ends a backoff under way when aborted (a stop need not wait it out) */
  signal?: AbortSignal
}

export async function keepRunning (run: () => Promise<void>, opts: KeepRunningOptions): Promise<void> {
  const first = opts.firstBackoffMs ?? 100
  let backoff = first
  while (!opts.stopped()) {
    try {
      await run()
      backoff = first
    } catch (err) {
      if (opts.stopped()) break
      if (await opts.onError(err)) continue
      await sleep(backoff, undefined, { signal: opts.signal }).catch(() => {})
      backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 5000)
    }
  }
}

/** A retry schedule: the delay before retry n (1-based); the last entry repeats. */
export function backoffFor (schedule: readonly number[], n: number): number {
  return schedule[Math.min(Math.max(n, 1), schedule.length) - 1] ?? 0
}
