import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { natsServer } from '../fixtures/nats.js'
import { freePort, spawnServer, waitFor200 } from '../fixtures/process.js'
import { startService, post } from '../fixtures/service.js'
import { postgresDatabase } from '../fixtures/postgres.js'
import { until } from '../fixtures/wait.js'

// kill -9 of the instance that applies the read models of a fleet sharing one PostgreSQL, while
// writes flow through both instances. The other instance takes every projection over (within
// PROJECTION_TAKEOVER of the holder's death, 1 s here) and resumes from the shared checkpoint:
// every collected event is in the read model exactly once, at its stream sequence (no gap),
// and a meeting changed N times says sequence N (meeting.updated adds 1 each time it is
// applied, so an event applied twice or skipped would show).

const organizer = { userId: 'org', email: 'org@example.com' }

async function killed (child: ChildProcess): Promise<void> {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

/** `name`'s value for a projection in a Prometheus text answer */
async function metric (base: string, name: string, projection: string): Promise<number | undefined> {
  const text = await fetch(`${base}/metrics`).then(async r => await r.text(), () => '')
  const line = text.split('\n').find(l => l.startsWith(`${name}{projection="${projection}"}`))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

t.test('kill -9 of the projection holder under load: the other instance takes over, no gap, no duplicate', async t => {
  const natsUrl = await natsServer(t)
  const url = await postgresDatabase()
  const env = { READ_MODEL_URL: url, PROJECTION_TAKEOVER: '1s' }
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-pg-kill-a-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const port = await freePort()
  const a = spawnServer(t, { ...env, NATS_URL: natsUrl, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'error' })
  const base = `http://127.0.0.1:${port}`
  await waitFor200(`${base}/readyz`)
  await until('a holds collect-events and meetings', async () =>
    await metric(base, 'jetway_projection_held', 'collect-events') === 1 && await metric(base, 'jetway_projection_held', 'meetings') === 1 ? true : undefined)
  const b = await startService(t, { natsUrl, env })
  t.same([...b.runtime.projections.values()].filter(r => r.holding).map(r => r.name), [], 'b stands by: a holds every read model')

  const created = await post(b.app, '/api/meetings', { title: 'T-0', startsAt: new Date(Date.now() + 86_400_000).toISOString(), durationMinutes: 30, location: 'Hall', participants: [{ email: 'p@example.com' }], organizer })
  t.equal(created.statusCode, 201)
  const meetingId = created.json().id as string

  // writes through both instances: collected events (a's until it dies) and meeting changes
  const state = { running: true, aAlive: true }
  let n = 0
  let written = 0
  let changes = 0
  const collect = async (via: 'a' | 'b'): Promise<void> => {
    const alive = (): boolean => via === 'b' || state.aAlive
    while (state.running && alive()) {
      const i = n++
      const body = { event_id: `e-${i}`, event: 'view', user_id: `user-${i % 7}`, parameters: { i } }
      const status = via === 'b'
        ? (await post(b.app, '/api/collect', body)).statusCode
        : await fetch(`${base}/api/collect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(r => r.status, () => 0)
      if (status === 200) written++
    }
  }
  const change = async (): Promise<void> => {
    while (state.running) {
      const res = await b.app.inject({ method: 'PATCH', url: `/api/meetings/${meetingId}`, payload: { title: `T-${changes + 1}` } })
      if (res.statusCode === 200) changes++
    }
  }
  const load = [collect('a'), collect('a'), collect('b'), collect('b'), change()]

  await until('300 events written', () => written >= 300 ? true : undefined, 60_000)
  state.aAlive = false
  await killed(a)
  const killedAt = Date.now()
  const before = written
  await until('b holds every read model', () => [...b.runtime.projections.values()].every(r => r.holding) ? true : undefined, 60_000)
  const takeoverMs = Date.now() - killedAt
  await until('300 more events written through b', () => written >= before + 300 ? true : undefined, 60_000)
  state.running = false
  await Promise.all(load)

  const stored = (await b.runtime.jsm.streams.info('COLLECT')).state.last_seq
  const meetingsEnd = (await b.runtime.jsm.streams.info('MEETINGS')).state.last_seq
  const current = async (name: string, end: number): Promise<true | undefined> => (await b.runtime.readModels.state(name)).appliedSeq >= end ? true : undefined
  await until('collect-events applied the stream', async () => await current('collect-events', stored), 60_000)
  await until('meetings applied the stream', async () => await current('meetings', meetingsEnd), 60_000)

  const rows = await b.runtime.db.selectFrom('collect_events').select(['seq', 'event_id']).orderBy('seq').execute()
  t.equal(rows.length, stored, `one row per collected event (${stored})`)
  t.same(rows.map(r => r.seq), Array.from({ length: stored }, (_, i) => i + 1), 'every sequence of COLLECT once: no gap, no duplicate')
  t.equal(new Set(rows.map(r => r.event_id)).size, rows.length, 'each event once')
  const meeting = await b.app.inject({ url: `/api/meetings/${meetingId}` })
  t.equal(meeting.json().sequence, changes, `the meeting changed ${changes} times says sequence ${changes}`)
  t.equal(meeting.json().title, `T-${changes}`)
  t.comment(`killed a after ${before} writes; b held every read model ${takeoverMs} ms later; ${stored} events, ${changes} meeting changes`)
})
