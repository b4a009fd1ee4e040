/** Maps with at most `limit` promises in flight; results keep the input order. */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return results
}

/** The promise's value, or 'late' once `ms` pass first (the timer does not outlive the race). */
export async function within<T> (promise: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>(resolve => { timer = setTimeout(() => resolve('late'), ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A sequence that only grows, and whoever waits on it: waitFor(seq) resolves true once it is
 * reached (false after a timeout or on close()), changed() at the next notify().
 */
export class SequenceWatch {
  value = 0
  private waiters: { seq: number, resolve: (ok: boolean) => void }[] = []
  private change = signal()

  async changed (): Promise<void> {
    return await this.change.promise
  }

  async waitFor (seq: number, timeoutMs: number): Promise<boolean> {
    if (this.value >= seq) return true
    return await new Promise(resolve => {
      const waiter = { seq, resolve }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== waiter)
        resolve(false)
      }, timeoutMs)
      waiter.resolve = ok => { clearTimeout(timer); resolve(ok) }
      this.waiters.push(waiter)
    })
  }

  /** Sets the value (it may go back: a reset) and wakes the waiters it satisfies, and changed(). */
  notify (value: number): void {
    this.value = value
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter(w => w.seq <= value)
      this.waiters = this.waiters.filter(w => w.seq > value)
      for (const w of ready) w.resolve(true)
    }
    this.change.resolve()
    this.change = signal()
  }

  /** Gives up every wait. */
  close (): void {
    for (const w of this.waiters) w.resolve(false)
    this.waiters = []
  }
}

function signal (): { promise: Promise<void>, resolve: () => void } {
  let done!: () => void
  const promise = new Promise<void>(resolve => { done = resolve })
  return { promise, resolve: done }
}
