// Requests per second over the last minute, for the console's overview: a ring of one-second
// buckets, counted by an onResponse hook on the whole app. Prometheus has the full picture
// (jetway_http_request_duration_seconds); this is what a person glancing at the console needs.

const SECONDS = 60

export interface RequestRate {
  /** requests answered in each of the last 60 seconds, oldest first (the current second last) */
  perSecond: number[]
  /** of those, answered with a 5xx */
  errorsPerSecond: number[]
  /** average over the last 60 seconds */
  average: number
  /** answered since the process started */
  total: number
}

export class RequestMeter {
  private readonly counts = new Array<number>(SECONDS).fill(0)
  private readonly errors = new Array<number>(SECONDS).fill(0)
  private second: number
  private total = 0
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
    this.second = Math.floor(now() / 1000)
  }

  record (statusCode: number): void {
    const i = this.advance()
    this.counts[i]!++
    if (statusCode >= 500) this.errors[i]!++
    this.total++
  }

  rate (): RequestRate {
    const i = this.advance()
    const order = (ring: number[]): number[] => [...ring.slice(i + 1), ...ring.slice(0, i + 1)]
    const perSecond = order(this.counts)
    return { perSecond, errorsPerSecond: order(this.errors), average: perSecond.reduce((a, b) => a + b, 0) / SECONDS, total: this.total }
  }

  /** Moves to the current second, clearing the buckets of the seconds that passed; its index. */
  private advance (): number {
    const second = Math.floor(this.now() / 1000)
    const passed = Math.min(second - this.second, SECONDS)
    for (let k = 1; k <= passed; k++) {
      const j = (this.second + k) % SECONDS
      this.counts[j] = 0
      this.errors[j] = 0
    }
    if (passed > 0) this.second = second
    return this.second % SECONDS
  }
}
