// Sums a sampling heap profile (bench/alloc-prof.mjs, BENCH_ALLOC_PROF) by allocation site:
// what a phase of a bench allocated on the service's HTTP thread, and where.
//
//   node --import tsx bench/allocs.ts <file.heapprofile> [per=<n operations>] [top=30]
import { readFileSync } from 'node:fs'

interface Frame { functionName: string, url: string, lineNumber: number }
interface Node { callFrame: Frame, selfSize: number, children: Node[] }

const [file, perArg, topArg] = process.argv.slice(2)
if (file === undefined) {
  console.error('usage: bench/allocs.ts <file.heapprofile> [operations] [top]')
  process.exit(2)
}
const per = Number(perArg ?? 1)
const TOP = Number(topArg ?? 30)
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: Node }
const place = (f: Frame): string => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?:.*\/)?([^/]+)$/.exec(f.url)
  if (pkg !== null) return `${pkg[1]!}/${pkg[2]!}`
  const own = /\/(src|bench)\/(.*)$/.exec(f.url)
  return own !== null ? `${own[1]!}/${own[2]!}` : f.url === '' ? '(native)' : f.url
}
const label = (f: Frame): string => `${f.functionName === '' ? '(anonymous)' : f.functionName} ${place(f)}:${f.lineNumber + 1}`
const self = new Map<string, number>()
const inclusive = new Map<string, number>()
let total = 0
const walk = (n: Node, stack: string[]): void => {
  const key = label(n.callFrame)
  total += n.selfSize
  self.set(key, (self.get(key) ?? 0) + n.selfSize)
  const inner = [...stack, key]
  for (const k of new Set(inner)) inclusive.set(k, (inclusive.get(k) ?? 0) + n.selfSize)
  for (const c of n.children) walk(c, inner)
}
walk(head, [])
const kib = (bytes: number): string => `${(bytes / per / 1024).toFixed(1)} KiB`
console.log(`${file}: ${(total / 2 ** 20).toFixed(1)} MiB sampled${per > 1 ? `, ${kib(total)} per operation (${per})` : ''}`)
const show = (title: string, m: Map<string, number>, filter: (k: string) => boolean): void => {
  console.log(`\n${title}`)
  for (const [k, v] of [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${(100 * v / total).toFixed(1).padStart(6)}%  ${kib(v).padStart(10)}  ${k}`)
}
show('by allocating function (self):', self, () => true)
show('by Jetway function (inclusive):', inclusive, k => / src\//.test(k))
