// Reads a V8 CPU profile (node --cpu-prof, BENCH_CPU_PROF) and says where its thread stalled:
// the stretches it ran without a break (no idle sample between), the longest first, each with
// what it spent its time on; and the share of the busy time by function and by package.
//
//   node --import tsx bench/stalls.ts <file.cpuprofile> [stretches=10] [ms=5]
//
// A stretch is time the event loop could not answer anything else: an SSE frame or a request
// due during it waits for its end. Sampling (1 kHz by default) sees stretches of a few ms and up.
import { readFileSync } from 'node:fs'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

const [file, topArg, minArg] = process.argv.slice(2)
if (file === undefined) {
  console.error('usage: bench/stalls.ts <file.cpuprofile> [stretches=10] [min ms=5]')
  process.exit(2)
}
const TOP = Number(topArg ?? 10)
const MIN_MS = Number(minArg ?? 5)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map(n => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

/** what a frame is, for a reader: the package, Node's own code, or the project's file */
function placeOf (f: CallFrame): string {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url)
  if (pkg !== null) return pkg[1]!
  if (f.url.startsWith('node:')) return 'node'
  const own = /\/(src|bench)\/(.*)$/.exec(f.url)
  return own === null ? f.url : `${own[1]}/${own[2]}`
}
const label = (f: CallFrame): string => `${f.functionName === '' ? '(anonymous)' : f.functionName} ${placeOf(f)}:${f.lineNumber + 1}`
const isIdle = (id: number): boolean => {
  const name = byId.get(id)?.callFrame.functionName
  return name === '(idle)' || name === '(program)'
}
/** the frames of a sample, leaf first */
function stackOf (id: number): CallFrame[] {
  const frames: CallFrame[] = []
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at)!
    if (n.callFrame.functionName !== '(root)') frames.push(n.callFrame)
  }
  return frames
}

// each sample's time is the delta to the next one. On a busy machine the thread (or the
// profiler's) is sometimes off the CPU between two samples: a delta far above the sampling
// interval is counted as the interval, and the rest as descheduled, not as work.
const deltas = profile.timeDeltas.slice(1).concat([0]).map(us => us / 1000)
const interval = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)] ?? 1
const CAP = 3 * interval
const times = deltas.map(ms => Math.min(ms, CAP))
const descheduled = deltas.reduce((a, ms) => a + Math.max(0, ms - CAP), 0)
const FROM = Number(process.env.STALLS_FROM ?? 0) * 1000
const TO = Number(process.env.STALLS_TO ?? Infinity) * 1000
interface Stretch { start: number, ms: number, samples: number[] }
const stretches: Stretch[] = []
let at = 0
let open: Stretch | undefined
let busy = 0
const self = new Map<string, number>()
const places = new Map<string, number>()
let wall = 0
profile.samples.forEach((id, i) => {
  const ms = times[i] ?? 0
  wall += deltas[i] ?? 0
  if (wall < FROM || wall > TO) {
    open = undefined
    return
  }
  if (isIdle(id)) {
    open = undefined
  } else {
    busy += ms
    if (open === undefined) stretches.push(open = { start: wall, ms: 0, samples: [] })
    open.ms += ms
    open.samples.push(i)
    const leaf = byId.get(id)!.callFrame
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + ms)
    // the sample's package: the innermost frame that is not Node's own or native
    const frames = stackOf(id)
    const owner = frames.find(f => f.url !== '' && !f.url.startsWith('node:')) ?? leaf
    places.set(placeOf(owner), (places.get(placeOf(owner)) ?? 0) + ms)
  }
  at += ms
})

const total = at
const pct = (ms: number, of: number): string => `${(100 * ms / of).toFixed(1)}%`
console.log(`${file}\n${(total / 1000).toFixed(1)} s profiled (sampling every ${interval.toFixed(2)} ms; ${(descheduled / 1000).toFixed(1)} s more descheduled, not counted), busy ${pct(busy, total)}; ${stretches.length} stretches, ${stretches.filter(s => s.ms >= MIN_MS).length} of ${MIN_MS} ms or more (${stretches.filter(s => s.ms >= MIN_MS).reduce((a, s) => a + s.ms, 0).toFixed(0)} ms in all)`)
const sorted = [...stretches].sort((a, b) => a.ms - b.ms)
const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]?.ms ?? NaN
console.log(`stretch length: p50 ${q(0.5).toFixed(2)} ms, p90 ${q(0.9).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${q(1).toFixed(2)} ms`)

console.log('\nbusy time by package (the innermost frame outside Node):')
for (const [name, ms] of [...places].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(ms, busy).padStart(6)}  ${name}`)
console.log('\nbusy time by function (self):')
for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(ms, busy).padStart(6)}  ${name}`)

console.log(`\nthe ${TOP} longest stretches:`)
for (const s of [...stretches].sort((a, b) => b.ms - a.ms).slice(0, TOP)) {
  // inclusive time of each frame in the stretch, counted once per sample
  const inclusive = new Map<string, number>()
  for (const i of s.samples) {
    const seen = new Set<string>()
    for (const f of stackOf(profile.samples[i]!)) {
      const key = label(f)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + (times[i] ?? 0))
    }
  }
  console.log(`  ${s.ms.toFixed(1)} ms at ${(s.start / 1000).toFixed(3)} s:`)
  const own = [...inclusive].filter(([k]) => !/ node:| \(native\)| \(program\)/.test(k) || /GC|garbage/.test(k))
  for (const [name, ms] of own.sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`      ${pct(ms, s.ms).padStart(6)}  ${name}`)
}
