// Requests per second over the last minute, and per minute over the last hour, for the
// console's overview: rings of buckets counted by an onResponse hook on the whole app.
// Prometheus has the full picture (jetway_http_request_duration_seconds); this is what a person
// glancing at the console needs.

const SECONDS = 60
const MINUTES = 60

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

export interface MinuteRate {
  /** the first minute's start, ISO 8601 (the current minute is the last) */
  from: string
  /** requests answered in each of the last 60 minutes, oldest first */
  requests: number[]
  /** of those, answered with a 4xx */
  clientErrors: number[]
  /** of those, answered with a 5xx */
  serverErrors: number[]
}

/** Counts in a ring of `size` buckets of `unitMs` each, the current one last. */
class Ring {
  private readonly counts: number[][]
  private unit: number

  constructor (private readonly size: number, private readonly unitMs: number, series: number, now: number) {
    this.counts = Array.from({ length: series }, () => new Array<number>(size).fill(0))
    this.unit = Math.floor(now / unitMs)
  }

  add (now: number, ...series: number[]): void {
    const i = this.advance(now)
    for (const s of series) this.counts[s]![i]!++
  }

  /** every series, oldest bucket first, and the start of the oldest bucket */
  read (now: number): { from: number, series: number[][] } {
    const i = this.advance(now)
    return {
      from: (this.unit - this.size + 1) * this.unitMs,
      series: this.counts.map(ring => [...ring.slice(i + 1), ...ring.slice(0, i + 1)])
    }
  }

  /** Moves to the current bucket, clearing those of the units that passed; its index. */
  private advance (now: number): number {
    const unit = Math.floor(now / this.unitMs)
    const passed = Math.min(unit - this.unit, this.size)
    for (let k = 1; k <= passed; k++) {
      const j = (this.unit + k) % this.size
      for (const ring of this.counts) ring[j] = 0
    }
    if (passed > 0) this.unit = unit
    return this.unit % this.size
  }
}

// the series: every request; of the seconds', the 5xx; of the minutes', the 4xx and the 5xx
const ALL = 0
const SECOND_ERRORS = 1
const CLIENT = 1
const SERVER = 2

export class RequestMeter {
  private readonly seconds: Ring
  private readonly minutes: Ring
  private total = 0
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
    this.seconds = new Ring(SECONDS, 1000, 2, now())
    this.minutes = new Ring(MINUTES, 60_000, 3, now())
  }

  record (statusCode: number): void {
    const now = this.now()
    if (statusCode >= 500) {
      this.seconds.add(now, ALL, SECOND_ERRORS)
      this.minutes.add(now, ALL, SERVER)
    } else {
      this.seconds.add(now, ALL)
      this.minutes.add(now, ...(statusCode >= 400 ? [ALL, CLIENT] : [ALL]))
    }
    this.total++
  }

  rate (): RequestRate {
    const [perSecond = [], errorsPerSecond = []] = this.seconds.read(this.now()).series
    return { perSecond, errorsPerSecond, average: perSecond.reduce((a, b) => a + b, 0) / SECONDS, total: this.total }
  }

  perMinute (): MinuteRate {
    const { from, series: [requests = [], clientErrors = [], serverErrors = []] } = this.minutes.read(this.now())
    return { from: new Date(from).toISOString(), requests, clientErrors, serverErrors }
  }
}
