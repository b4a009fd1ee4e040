// How fast a quantity grows (bytes of a stream, of a read model): samples of its value over the
// last hour, at most one per MIN_GAP_MS, and the slope between the oldest and the newest. For the
// console's overview; Prometheus computes its own rates from the gauges in /metrics.

const WINDOW_MS = 3_600_000
const MIN_GAP_MS = 10_000

export interface Growth {
  /** change per hour over `windowSeconds`; null until two samples MIN_GAP_MS apart exist */
  perHour: number | null
  windowSeconds: number
}

export class GrowthMeter {
  private readonly samples = new Map<string, { at: number, value: number }[]>()
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  /** Records a value of `key` now (ignored within MIN_GAP_MS of the last one). */
  sample (key: string, value: number): void {
    const at = this.now()
    const list = this.samples.get(key) ?? []
    const last = list.at(-1)
    if (last !== undefined && at - last.at < MIN_GAP_MS) return
    list.push({ at, value })
    while (list.length > 2 && at - list[0]!.at > WINDOW_MS) list.shift()
    this.samples.set(key, list)
  }

  growth (key: string): Growth {
    const list = this.samples.get(key) ?? []
    const first = list[0]
    const last = list.at(-1)
    if (first === undefined || last === undefined || last.at - first.at < MIN_GAP_MS) return { perHour: null, windowSeconds: 0 }
    const ms = last.at - first.at
    return { perHour: (last.value - first.value) / ms * 3_600_000, windowSeconds: Math.round(ms / 1000) }
  }
}
