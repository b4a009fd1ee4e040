import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { Migrator } from 'kysely/migration'
import { migrations } from '../../src/schema/migrations.js'
import { rawOf, openDatabase } from '../../src/projections/db.js'
import { collectEvents } from '../../src/projections/collect-events.js'
import type { StoredEvent } from '../../src/store/events.js'

const row = (seq: number, userId: string, eventId: string) => ({
  seq, event_id: eventId, user_id: userId, event: 'view', event_datetime: '2030-01-01T00:00:00.000000Z', parameters: null, received_at: '2030-01-01T00:00:00.000000Z'
})

/** A fresh SQLite file migrated up to and including `last`, and a provider for the next steps. */
async function migratedTo (t: Test, last: string) {
  const dir = await mkdtemp(join(tmpdir(), 'jetway-mig-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'jetway.db')
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(file) }) })
  const upTo = (to: string) => ({ getMigrations: async () => Object.fromEntries(Object.entries(migrations).filter(([name]) => name.slice(0, 4) <= to)) })
  t.equal((await new Migrator({ db, provider: upTo(last) }).migrateToLatest()).error, undefined)
  return { file, db, upTo }
}

t.test('migration 0004 rescopes collect_events to (user_id, event_id), keeping rows and the search index', async t => {
  const { file, db, upTo } = await migratedTo(t, '0003')
  await db.insertInto('collect_events').values([row(1, 'alice', 'e1'), row(2, 'alice', 'e2'), row(3, 'bob', 'e3')]).execute()
  await t.rejects(db.insertInto('collect_events').values(row(4, 'bob', 'e1')).execute(), /UNIQUE/, 'before: event_id unique across users')

  const { error, results } = await new Migrator({ db, provider: upTo('0004') }).migrateToLatest()
  t.equal(error, undefined)
  t.same(results?.map(r => r.migrationName), ['0004_collect_scoped_to_user'])
  t.same((await db.selectFrom('collect_events').select(['seq', 'user_id', 'event_id']).orderBy('seq').execute()),
    [{ seq: 1, user_id: 'alice', event_id: 'e1' }, { seq: 2, user_id: 'alice', event_id: 'e2' }, { seq: 3, user_id: 'bob', event_id: 'e3' }], 'rows kept')
  const indexes = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'collect_events' AND sql IS NOT NULL`.execute(db)
  t.same(indexes.rows.map(r => r.name), ['collect_events_by_user_time'], 'the search index is back')
  await db.insertInto('collect_events').values(row(4, 'bob', 'e1')).execute()
  t.pass('after: another user may use the same event_id')
  await t.rejects(db.insertInto('collect_events').values(row(5, 'bob', 'e1')).execute(), /UNIQUE/, 'after: unique per user')
  await db.destroy()

  const reopened = await openDatabase(file)
  t.equal((await reopened.selectFrom('collect_events').selectAll().execute()).length, 4, 'the service opens the migrated file')
  await reopened.destroy()
})

t.test('migration 0010 stores collect_events in search order, keeping rows and the per-user uniqueness', async t => {
  const { file, db, upTo } = await migratedTo(t, '0009')
  await db.insertInto('collect_events').values([
    { ...row(1, 'alice', 'e1'), event_datetime: '2030-01-01T00:00:02.000000Z', parameters: '{"price":1}' },
    { ...row(2, 'alice', 'e2'), event_datetime: '2030-01-01T00:00:01.000000Z' },
    row(3, 'bob', 'e1')
  ]).execute()

  const { error, results } = await new Migrator({ db, provider: upTo('0010') }).migrateToLatest()
  t.equal(error, undefined)
  t.same(results?.map(r => r.migrationName), ['0010_collect_events_by_user'])
  const table = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'collect_events'`.execute(db)
  t.match(table.rows[0]?.sql, /PRIMARY KEY \(user_id, event_datetime, seq\)[\s\S]*WITHOUT ROWID/)
  // stored in key order: a plain scan reads alice's rows by time, then bob's
  t.same((await sql<{ seq: number }>`SELECT seq FROM collect_events`.execute(db)).rows.map(r => r.seq), [2, 1, 3])
  t.same((await db.selectFrom('collect_events').select(['parameters']).where('seq', '=', 1).execute()), [{ parameters: '{"price":1}' }], 'rows kept whole')
  await t.rejects(db.insertInto('collect_events').values(row(4, 'bob', 'e1')).execute(), /UNIQUE/, 'still unique per user')
  await db.destroy()
  const reopened = await openDatabase(file)
  t.equal((await reopened.selectFrom('collect_events').selectAll().execute()).length, 3, 'the service opens the migrated file')
  await reopened.destroy()
})

t.test('the projection keeps the first event per (user_id, event_id)', async t => {
  const db = await openDatabase(':memory:')
  t.teardown(async () => { await db.destroy() })
  const ev = (seq: number, userId: string, eventId: string, price: number): StoredEvent => ({
    seq,
    natsSubject: `collect.user.${userId}.view`,
    id: `ce-${seq}`,
    type: 'collect.event.received',
    version: 1,
    source: '/jetway/collect',
    time: '2030-01-01T00:00:00.000Z',
    data: { ...row(seq, userId, eventId), parameters: { price } }
  })
  await db.transaction().execute(async trx => {
    await collectEvents.apply(trx, [ev(1, 'alice', 'e1', 1), ev(2, 'bob', 'e1', 2)], rawOf(db))
  })
  // a repeat past the stream's duplicate window, in a later batch, and one inside the same batch
  await db.transaction().execute(async trx => {
    await collectEvents.apply(trx, [ev(3, 'alice', 'e1', 3), ev(4, 'carol', 'e1', 4), ev(5, 'carol', 'e1', 5)], rawOf(db))
  })
  const rows = await db.selectFrom('collect_events').select(['seq', 'user_id', 'parameters']).orderBy('seq').execute()
  t.same(rows, [
    { seq: 1, user_id: 'alice', parameters: '{"price":1}' },
    { seq: 2, user_id: 'bob', parameters: '{"price":2}' },
    { seq: 4, user_id: 'carol', parameters: '{"price":4}' }
  ])
})

t.test('migration 0011 adds the SDK columns (null for the rows there) and the minute counts', async t => {
  const { file, db, upTo } = await migratedTo(t, '0010')
  await db.insertInto('collect_events').values(row(1, 'alice', 'e1')).execute()
  const { results } = await new Migrator({ db, provider: upTo('0011') }).migrateToLatest()
  t.same(results?.map(r => r.migrationName), ['0011_collect_sdk_fields_and_minutes'])
  t.same(await db.selectFrom('collect_events').select(['seq', 'anonymous_id', 'context', 'integrations']).execute(), [{ seq: 1, anonymous_id: null, context: null, integrations: null }])
  t.same(await db.selectFrom('collect_minutes').selectAll().execute(), [])
  await db.destroy()
  const reopened = await openDatabase(file)
  t.equal((await reopened.selectFrom('collect_events').selectAll().execute()).length, 1, 'the service opens the migrated file')
  await reopened.destroy()
})

t.test('v2 events fill the SDK columns; each new row counts in its minute; minutes past two hours are dropped', async t => {
  const db = await openDatabase(':memory:')
  t.teardown(async () => { await db.destroy() })
  const v1 = (seq: number, eventId: string, receivedAt: string): StoredEvent => ({
    seq,
    natsSubject: 'collect.user.u.view',
    id: `ce-${seq}`,
    type: 'collect.event.received',
    version: 1,
    source: '/jetway/collect',
    time: receivedAt,
    data: { ...row(seq, 'u', eventId), received_at: receivedAt }
  })
  const v2 = (seq: number, eventId: string, receivedAt: string): StoredEvent => ({
    ...v1(seq, eventId, receivedAt),
    version: 2,
    data: { ...row(seq, 'u', eventId), event: 'page:Home', received_at: receivedAt, anonymous_id: 'anon', context: { ip: '10.0.0.1' }, integrations: { All: true }, sdk: { type: 'page', timestamp: null, sent_at: null } }
  })
  await db.transaction().execute(async trx => {
    await collectEvents.apply(trx, [
      v1(1, 'a', '2030-01-01T08:00:10.000000Z'), v1(2, 'b', '2030-01-01T08:00:20.000000Z'),
      v2(3, 'c', '2030-01-01T09:30:00.000000Z'), v2(4, 'c', '2030-01-01T09:30:01.000000Z'), // a repeat: not counted
      { ...v1(5, 'd', '2030-01-01T09:31:00.000000Z'), data: { bad: true } } // not an event of this model
    ], rawOf(db))
  })
  t.same(await db.selectFrom('collect_events').select(['event_id', 'anonymous_id', 'context', 'integrations']).where('event_id', '=', 'c').execute(),
    [{ event_id: 'c', anonymous_id: 'anon', context: '{"ip":"10.0.0.1"}', integrations: '{"All":true}' }])
  t.same(await db.selectFrom('collect_minutes').selectAll().orderBy('minute').execute(), [
    { minute: '2030-01-01T08:00', event: 'view', count: 2 },
    { minute: '2030-01-01T09:30', event: 'page:Home', count: 1 }
  ])
  await db.transaction().execute(async trx => {
    await collectEvents.apply(trx, [v1(6, 'e', '2030-01-01T10:01:30.000000Z'), v1(7, 'f', '2030-01-01T10:01:40.000000Z')], rawOf(db))
  })
  t.same(await db.selectFrom('collect_minutes').selectAll().orderBy('minute').execute(), [
    { minute: '2030-01-01T09:30', event: 'page:Home', count: 1 },
    { minute: '2030-01-01T10:01', event: 'view', count: 2 }
  ], '08:00 is more than two hours before 10:01')
})
