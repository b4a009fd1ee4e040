// npm run bench:catchup — replay EVENTS (default 1,000,000) collected events from COLLECT into
// SQLite through the projection runner, beside raw better-sqlite3 batched inserts of the same
// rows into the same table and indexes (the migrations' schema) in the same run. Leaves nothing
// behind.
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { pino } from 'pino'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../src/config.js'
import { applyStreams, loadStreamConfigs } from '../src/store/streams.js'
import { eventHeaders } from '../src/store/events.js'
import { Events } from '../src/schema/events/index.js'
import { openDatabase } from '../src/projections/db.js'
import { ProjectionRunner } from '../src/projections/runner.js'
import { collectEvents } from '../src/projections/collect-events.js'
import { systemClock } from '../src/lib/time.js'
import { benchNats, fmt, isMain, report, section, tempDir, type Figure } from './lib.js'

const USERS = 10_000

export function syntheticEvent (i: number) {
  const t = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('Z', '000Z')
  return { event_id: `e-${i}`, event: i % 3 === 0 ? 'purchase' : 'view', user_id: `user-${i % USERS}`, parameters: { order_id: `o-${i}`, currency: 'KRW', price: i % 997 }, event_datetime: t, received_at: t }
}

/**
 * Fills COLLECT with `EVENTS` synthetic events (syntheticEvent(1) … syntheticEvent(EVENTS)) at
 * sequences 1 … EVENTS, fast: core publishes (no per-message ack), flushed every 5k for
 * back-pressure, then acknowledged publishes for any the server dropped.
 */
export async function fillCollect (nc: NatsConnection, EVENTS: number): Promise<number> {
  const jsm = await jetstreamManager(nc)
  await applyStreams(jsm, await loadStreamConfigs(loadConfig({})), pino({ level: 'warn' }))
  const fill0 = performance.now()
  const encoder = new TextEncoder()
  for (let i = 1; i <= EVENTS; i++) {
    const data = syntheticEvent(i)
    nc.publish(`collect.user.${data.user_id}.${data.event}`, encoder.encode(JSON.stringify(data)), {
      headers: eventHeaders({ def: Events.collectEventReceived, data, subject: '', source: '/jetway/bench', time: new Date() })
    })
    if (i % 5000 === 0) await nc.flush()
  }
  await nc.flush()
  // core publishes carry no ack, and a busy server may drop some: wait until the count stops
  // growing, then top up the missing sequence numbers' events with acknowledged publishes
  let stored = 0
  for (let still = 0; stored < EVENTS && still < 20;) {
    const now = (await jsm.streams.info('COLLECT')).state.messages
    still = now === stored ? still + 1 : 0
    stored = now
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  if (stored < EVENTS) {
    const js = jetstream(nc)
    for (let i = stored + 1; i <= EVENTS; i++) {
      const data = syntheticEvent(i)
      await js.publish(`collect.user.${data.user_id}.${data.event}`, encoder.encode(JSON.stringify(data)), {
        headers: eventHeaders({ def: Events.collectEventReceived, data, subject: '', source: '/jetway/bench', time: new Date() })
      })
    }
    stored = (await jsm.streams.info('COLLECT')).state.messages
  }
  console.log(`filled COLLECT with ${fmt(stored)} events in ${fmt((performance.now() - fill0) / 1000, 1)} s`)
  return stored
}

export async function catchupBench (EVENTS = 1_000_000): Promise<Figure[]> {
  const nats = await benchNats()
  const data = await tempDir('jetway-bench-catchup-')
  try {
    const nc = await connect({ servers: nats.url })
    await fillCollect(nc, EVENTS)

    // Projection replay: ordered consumer -> decode + validate -> batched Kysely insert + checkpoint.
    const db = await openDatabase(join(data.path, 'jetway.db'))
    const runner = new ProjectionRunner({ projection: collectEvents, js: jetstream(nc), db, log: pino({ level: 'warn' }), clock: systemClock })
    const t0 = performance.now()
    await runner.start()
    await runner.waitFor(EVENTS, 3_600_000)
    const replaySeconds = (performance.now() - t0) / 1000
    await runner.stop()
    const rows = Number((await db.selectFrom('collect_events').select(eb => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
    await db.destroy()
    await nc.close()

    // The limit: the same rows through a prepared better-sqlite3 statement, 1000 per transaction,
    // into a fresh file with the same schema (collect_events: primary key, unique (user_id,
    // event_id), index (user_id, event_datetime, seq)) and the same pragmas.
    const rawFile = join(data.path, 'raw.db')
    await (await openDatabase(rawFile)).destroy()
    const raw = new SQLite(rawFile)
    raw.pragma('journal_mode = WAL')
    raw.pragma('synchronous = NORMAL')
    raw.pragma('cache_size = -65536')
    const insert = raw.prepare(`INSERT INTO collect_events (seq, event_id, user_id, event, event_datetime, parameters, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, event_id) DO NOTHING`)
    const insertMany = raw.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const e = syntheticEvent(i)
        insert.run(i, e.event_id, e.user_id, e.event, e.event_datetime, JSON.stringify(e.parameters), e.received_at)
      }
    })
    const r0 = performance.now()
    for (let i = 1; i <= EVENTS; i += 1000) insertMany(i, Math.min(EVENTS + 1, i + 1000))
    const rawSeconds = (performance.now() - r0) / 1000
    raw.close()

    const replayRate = EVENTS / replaySeconds
    const rawRate = EVENTS / rawSeconds
    section(`projection catch-up (${fmt(EVENTS)} events, ${fmt(USERS)} users)`)
    console.log(`projection replay (JetStream -> SQLite): ${fmt(replayRate)} events/s (${fmt(replaySeconds, 1)} s, ${fmt(rows)} rows)`)
    console.log(`raw better-sqlite3 batched insert:        ${fmt(rawRate)} rows/s (${fmt(rawSeconds, 1)} s)`)
    console.log(`ratio: ${fmt(replayRate / rawRate, 2)} of raw insert`)
    return [{
      figure: `projection catch-up of ${fmt(EVENTS)} collected events ÷ raw better-sqlite3 insert`,
      value: `${fmt(replayRate)}/s`,
      limit: `${fmt(rawRate)} rows/s raw insert, same schema`,
      ratio: replayRate / rawRate,
      goal: '≥ 0.8',
      met: replayRate / rawRate >= 0.8 && rows === EVENTS
    }]
  } finally {
    await nats.remove()
    await data.remove()
  }
}

if (isMain(import.meta.url)) report(await catchupBench(Number(process.env.EVENTS ?? 1_000_000)))
