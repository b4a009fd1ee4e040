// Preloaded into the service by the benches when BENCH_ALLOC_PROF=<dir> is set (plain JS: it
// runs before tsx). The first SIGUSR2 starts V8's sampling heap profiler on the main (HTTP)
// thread, counting objects that died young too; the second writes <dir>/alloc-<pid>-<n>.heapprofile
// (DevTools opens it; `node --import tsx bench/allocs.ts <file>` sums it by allocation site).
// What a phase allocates does not depend on how busy the machine is, unlike its timings.
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'

if (isMainThread && process.env.BENCH_ALLOC_PROF !== undefined) {
  const dir = process.env.BENCH_ALLOC_PROF
  const session = new Session()
  session.connect()
  let sampling = false
  let n = 0
  process.on('SIGUSR2', () => {
    const step = sampling
      ? session.post('HeapProfiler.stopSampling').then(({ profile }) => {
        const file = join(dir, `alloc-${process.pid}-${++n}.heapprofile`)
        writeFileSync(file, JSON.stringify(profile))
        process.stderr.write(`alloc-prof: ${file}\n`)
      })
      : session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    sampling = !sampling
    step.catch(err => process.stderr.write(`alloc-prof: ${err}\n`))
  })
}
