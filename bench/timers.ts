// npm run bench:timers — durable timers at scale. Arms PENDING (default 1,000,000) job
// timeouts far in the future through the timers projection (timers set/s, beside raw
// better-sqlite3 inserts of the same rows in the same run), then, with all of them pending,
// arms DUE (default 2,000) timers due 2-7 s ahead and measures how late each fires (timer.fired
// time minus due time) with one ticker at TIMER_TICK (default 250 ms, the floor of the lag).
// Everything runs on 127.0.0.1 and is removed afterwards.
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { pino } from 'pino'
import { connect } from '@nats-io/transport-node'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../src/config.js'
import { applyStreams, loadStreamConfigs } from '../src/store/streams.js'
import { decodeEvent, eventHeaders, isEvent } from '../src/store/events.js'
import { Subjects } from '../src/store/subjects.js'
import { Events } from '../src/schema/events/index.js'
import { openDatabase } from '../src/projections/db.js'
import { ProjectionRunner } from '../src/projections/runner.js'
import { countTimers, jobTimers } from '../src/projections/timers.js'
import { TimerTicker } from '../src/projections/timer-ticker.js'
import { parseDuration } from '../src/lib/duration.js'
import { systemClock } from '../src/lib/time.js'
import { benchNats, fmt, percentile, section, tempDir } from './lib.js'

const PENDING = Number(process.env.PENDING ?? 1_000_000)
const DUE = Number(process.env.DUE ?? 2_000)
const TICK_MS = parseDuration(process.env.TIMER_TICK ?? '250ms')!
const log = pino({ level: 'warn' })
const encoder = new TextEncoder()

const nats = await benchNats()
const data = await tempDir('jetway-bench-timers-')
try {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await applyStreams(jsm, await loadStreamConfigs(loadConfig({})), log)
  const request = (eventId: string, deadline: string) => {
    const d = { eventId, eventType: 'TRAINING' as const, userId: `user-${eventId.length}`, requestedAt: new Date().toISOString(), deadline }
    nc.publish(Subjects.jobRequested(eventId), encoder.encode(JSON.stringify(d)), {
      headers: eventHeaders({ def: Events.jobRequested, data: d, subject: '', source: '/jetway/bench', time: new Date() })
    })
  }

  // 1. arm PENDING timers a month ahead: fill JOBS, then replay it through the timers projection
  const far = new Date(Date.now() + 30 * 86_400_000).toISOString()
  for (let i = 1; i <= PENDING; i++) {
    request(`far-${i}`, far)
    if (i % 5000 === 0) await nc.flush()
  }
  await nc.flush()
  while ((await jsm.streams.info('JOBS')).state.messages < PENDING) await new Promise(resolve => setTimeout(resolve, 50))
  const db = await openDatabase(join(data.path, 'jetway.db'))
  const runner = new ProjectionRunner({ projection: jobTimers, js, db, log, clock: systemClock })
  const rss0 = process.memoryUsage().rss
  const t0 = performance.now()
  await runner.start()
  await runner.waitFor(PENDING, 3_600_000)
  const setSeconds = (performance.now() - t0) / 1000
  const pending = await countTimers(db)

  // the limit: the same rows through one prepared better-sqlite3 statement, 1000 per transaction
  const raw = new SQLite(join(data.path, 'raw.db'))
  raw.pragma('journal_mode = WAL')
  raw.pragma('synchronous = NORMAL')
  raw.exec(`CREATE TABLE timers (timer_id TEXT PRIMARY KEY, projection TEXT NOT NULL, stream TEXT NOT NULL, kind TEXT NOT NULL,
    due_at INTEGER NOT NULL, payload TEXT NOT NULL, group_key TEXT NOT NULL, set_seq INTEGER NOT NULL);
    CREATE INDEX d ON timers (due_at); CREATE INDEX g ON timers (group_key);`)
  const insert = raw.prepare('INSERT INTO timers VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  const insertMany = raw.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      insert.run(`job-timeout:far-${i}`, 'timers-jobs', 'JOBS', 'job-timeout', Date.parse(far), JSON.stringify({ eventId: `far-${i}`, userId: 'u', requestedAt: far, deadline: far }), `job:far-${i}`, i)
    }
  })
  const r0 = performance.now()
  for (let i = 1; i <= PENDING; i += 1000) insertMany(i, Math.min(PENDING + 1, i + 1000))
  const rawSeconds = (performance.now() - r0) / 1000
  raw.close()

  // 2. with all of them pending, DUE timers due 2-7 s from now; the runner keeps projecting live
  const ticker = new TimerTicker({ db, js, clock: systemClock, log, tickMs: TICK_MS })
  ticker.start()
  const fired = await js.consumers.get('JOBS', { filter_subjects: 'timer.jobs.>', deliver_policy: DeliverPolicy.New })
  const messages = await fired.consume()
  const base = Date.now() + 2000
  for (let i = 1; i <= DUE; i++) request(`due-${i}`, new Date(base + Math.floor((i / DUE) * 5000)).toISOString())
  await nc.flush()
  const lags: number[] = []
  for await (const m of messages) {
    const ev = decodeEvent(m)
    if (isEvent(ev, Events.timerFired)) lags.push(Date.parse(ev.time) - Date.parse(ev.data.dueAt))
    if (lags.length === DUE) break
  }
  messages.stop()
  await ticker.stop()
  await runner.stop()
  const rss1 = process.memoryUsage().rss
  await db.destroy()
  await nc.close()

  lags.sort((a, b) => a - b)
  section(`durable timers (${fmt(PENDING)} pending, ${fmt(DUE)} due, tick ${TICK_MS} ms)`)
  console.log(`timers set (JetStream -> timers projection -> SQLite): ${fmt(PENDING / setSeconds)} /s (${fmt(setSeconds, 1)} s, ${fmt(pending)} rows)`)
  console.log(`raw better-sqlite3 insert of the same rows:           ${fmt(PENDING / rawSeconds)} /s (${fmt(rawSeconds, 1)} s); ratio ${fmt(rawSeconds / setSeconds, 2)}`)
  console.log(`fire lag with ${fmt(PENDING)} pending: p50 ${fmt(percentile(lags, 0.5))} ms, p99 ${fmt(percentile(lags, 0.99))} ms, max ${fmt(lags.at(-1) ?? NaN)} ms (floor: one tick, ${TICK_MS} ms; goal: within 1000 ms)`)
  console.log(`process RSS: ${fmt(rss0 / 2 ** 20)} MiB before arming, ${fmt(rss1 / 2 ** 20)} MiB with ${fmt(pending)} pending (timers live in SQLite, not in memory or in ack slots)`)
} finally {
  await nats.remove()
  await data.remove()
}
