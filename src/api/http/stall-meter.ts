import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks'
import { Histogram, type Registry } from 'prom-client'

// The stalls of the thread that serves HTTP, for /metrics: how late a 1 ms timer runs (the
// event-loop delay: an SSE frame or a request due during a stall waits that long) and every
// garbage-collection pause. Buckets fine enough for a goal of a few milliseconds; prom-client's
// own event-loop figures sample every 10 ms and its GC histogram starts at 1 ms and counts one
// pause of each batch the observer gets, so these are the ones to read.

/** How often the delay is sampled; a stall shorter than this may go unseen. */
const SAMPLE_MS = 1
const BUCKETS = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5]

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb'
}

/** Starts measuring this thread's stalls into `registry`; stop() ends it (the app's close). */
export function meterStalls (registry: Registry): { stop: () => void } {
  const delay = new Histogram({
    name: 'jetway_event_loop_delay_seconds',
    help: `How late a timer due every ${SAMPLE_MS} ms ran on the HTTP thread: one sample per run, so a stall of S seconds is one sample of about S`,
    buckets: BUCKETS,
    registers: [registry]
  })
  const gc = new Histogram({
    name: 'jetway_gc_pause_seconds',
    help: 'Garbage-collection pauses of the HTTP thread by kind (minor: scavenge; major: mark-compact; incremental: a marking step; weakcb: weak callbacks)',
    labelNames: ['kind'],
    buckets: BUCKETS,
    registers: [registry]
  })
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    delay.observe(Math.max(0, now - last - SAMPLE_MS) / 1000)
    last = now
  }, SAMPLE_MS)
  timer.unref()
  const observer = new PerformanceObserver(list => {
    for (const entry of list.getEntries()) gc.observe({ kind: kindOf(entry) }, entry.duration / 1000)
  })
  observer.observe({ entryTypes: ['gc'] })
  return {
    stop: () => {
      clearInterval(timer)
      observer.disconnect()
    }
  }
}

function kindOf (entry: PerformanceEntry): string {
  const kind = (entry as { detail?: { kind?: number } | null }).detail?.kind
  return (kind === undefined ? undefined : GC_KINDS[kind]) ?? 'other'
}
