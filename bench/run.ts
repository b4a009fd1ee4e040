// npm run bench — every figure of the performance goals, each beside the limit measured in the
// same run, then one table (the README's). Bounded to about 10 minutes on a 2-core machine;
// BENCH_QUICK=1 runs smaller sizes (a smoke run, not figures to publish).
import { cpus, totalmem } from 'node:os'
import { execFileSync } from 'node:child_process'
import { ingestBench } from './ingest.js'
import { catchupBench } from './catchup.js'
import { queryBench } from './query.js'
import { sseBench } from './sse.js'
import { diskBench } from './disk.js'
import { postgresBench } from './postgres.js'
import { fmt, section, table, type Figure } from './lib.js'

const quick = process.env.BENCH_QUICK === '1'
const t0 = performance.now()
const figures: Figure[] = []
figures.push(...await ingestBench({ events: quick ? 5000 : 30_000 }))
figures.push(...await catchupBench(quick ? 50_000 : 1_000_000))
figures.push(...await queryBench({ events: quick ? 50_000 : 1_000_000, requests: quick ? 1000 : 5000, ingest: 2000 }))
figures.push(...await postgresBench({ events: quick ? 50_000 : 1_000_000, requests: quick ? 1000 : 5000, ingest: 2000 }))
figures.push(...await sseBench({ rate: 500, seconds: quick ? 3 : 10, fanout: quick ? [1000] : [1000, 19_900] }))
figures.push(...await diskBench(quick ? { events: 10_000, retentionSeconds: 5, runSeconds: 15 } : { events: 100_000, retentionSeconds: 10, runSeconds: 90 }))

const natsVersion = execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim()
section(`npm run bench: ${fmt((performance.now() - t0) / 1000)} s`)
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB; Node ${process.version}; ${natsVersion}; load generator, nats-server and service share the machine`)
console.log(table(figures))
process.exitCode = 0
