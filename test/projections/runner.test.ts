import t from 'tap'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { natsServer } from '../fixtures/nats.js'
import { freePort, spawnServer, waitFor200 } from '../fixtures/process.js'
import { startService, post, readModelEnv } from '../fixtures/service.js'
import { openDatabase } from '../../src/projections/db.js'
import { rebuildProjection } from '../../src/projections/rebuild.js'

t.test('start, write, kill -9, restart: every acknowledged event is present exactly once', async t => {
  const natsUrl = await natsServer(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-kill-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env = { NATS_URL: natsUrl, DATA_DIR: dataDir, PORT: String(port), ...await readModelEnv(dataDir) }

  const first = spawnServer(t, env)
  await waitFor200(`${base}/healthz`)
  const acked = new Set<string>()
  let n = 0
  const writer = async (): Promise<void> => {
    while (true) {
      const id = `k-${n++}`
      const r = await fetch(`${base}/api/collect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_id: id, event: 'tick', user_id: `u${n % 5}` })
      }).catch(() => undefined)
      if (r === undefined) return
      if (r.status === 200) acked.add(id)
    }
  }
  const writers = Array.from({ length: 16 }, writer)
  while (acked.size < 400) await new Promise(resolve => setTimeout(resolve, 5))
  first.kill('SIGKILL')
  await once(first, 'exit')
  await Promise.all(writers)
  t.ok(acked.size >= 400, `${acked.size} events acknowledged before the kill`)

  const second = spawnServer(t, env)
  await waitFor200(`${base}/readyz`)
  second.kill('SIGTERM')
  t.equal((await once(second, 'exit'))[0], 0, 'graceful shutdown exits 0')

  const db = await openDatabase(env.READ_MODEL_URL ?? join(dataDir, 'jetway.db'))
  t.teardown(async () => { await db.destroy() })
  const rows = await db.selectFrom('collect_events').select(['event_id', 'seq']).execute()
  const ids = rows.map(r => r.event_id)
  t.equal(new Set(ids).size, ids.length, 'no event_id twice')
  t.same([...acked].filter(id => !ids.includes(id)), [], 'every acknowledged event is in the read model')
  const checkpoint = await db.selectFrom('projection_checkpoints').selectAll().where('name', '=', 'collect-events').executeTakeFirstOrThrow()
  t.equal(checkpoint.last_seq, Math.max(...rows.map(r => r.seq)), 'checkpoint is the last applied sequence')
  t.equal(rows.length, checkpoint.last_seq, 'one row per stream message: nothing skipped, nothing doubled')
})

t.test('rebuild drops and replays while the service runs, and the CLI does the same', async t => {
  const svc = await startService(t)
  const events = Array.from({ length: 300 }, (_, i) => ({ event_id: `r-${i}`, event: 'view', user_id: `u${i % 3}` }))
  const w = await post(svc.app, '/api/collect/batch', { events })
  await svc.app.inject({ url: `/api/event/u0?min_seq=${w.headers['jetway-seq'] as string}` })
  await svc.runtime.db.updateTable('collect_events').set({ event: 'corrupted' }).execute()

  const progress: number[] = []
  const result = await rebuildProjection(svc.runtime, 'collect-events', applied => progress.push(applied))
  t.same(result, { applied: 300, total: 300 })
  t.equal(progress[0], 0)
  t.equal(progress.at(-1), 300)
  const views = await svc.app.inject({ url: '/api/event/u0?event=view' })
  t.equal(views.json().items.length, 100, 'rows rebuilt from the stream')

  const later = await post(svc.app, '/api/collect', { event_id: 'after', event: 'view', user_id: 'u0' })
  const seen = await svc.app.inject({ url: `/api/event/u0?limit=1000&min_seq=${later.headers['jetway-seq'] as string}` })
  t.equal(seen.json().items.length, 101, 'the running projection continues after the rebuild')

  await t.rejects(rebuildProjection(svc.runtime, 'nope', () => {}), /no projection named nope/)

  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/rebuild.ts', 'collect-events'], {
    env: { ...process.env, NATS_URL: svc.natsUrl, DATA_DIR: svc.dataDir, LOG_LEVEL: 'warn', ...await readModelEnv(svc.dataDir) }
  })
  t.match(stdout, /rebuilt collect-events: 301 of 301 stream messages/)
})

t.test('a message that is not a valid event is skipped; the ones after it still apply', async t => {
  const { app, runtime } = await startService(t)
  const h = natsHeaders()
  h.set('ce-type', 'collect.event.received')
  h.set('ce-dataschema', 'jetway:collect.event.received:v1')
  await runtime.js.publish('collect.user.x.y', 'not json', { headers: h })
  await runtime.js.publish('collect.user.x.y', JSON.stringify({ event_id: 'bad' }), { headers: h })
  await runtime.js.publish('collect.junk', 'no headers at all')
  const ok = await post(app, '/api/collect', { event_id: 'fine', event: 'y', user_id: 'x' })
  t.equal(ok.headers['jetway-seq'], 'COLLECT:4')
  const found = await app.inject({ url: '/api/event/x?min_seq=4' })
  t.same(found.json().items.map((e: { event_id: string }) => e.event_id), ['fine'])
  // the checkpoint, as reads see it (a runner in the projection thread reports it a moment later)
  t.equal((await runtime.readModels.state('collect-events')).appliedSeq, 4)
})
