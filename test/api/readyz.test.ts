import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { natsServer } from '../fixtures/nats.js'
import { startService, post } from '../fixtures/service.js'
import { startNatsServer } from '../../src/store/nats-server.js'

/** Polls /readyz until it answers `status`; returns that answer's body. */
async function readyz (app: FastifyInstance, status: 200 | 503, timeoutMs = 20_000): Promise<{ status: string, nats: boolean, reasons?: string[], projections: Record<string, { pending: number, caughtUp: boolean }> }> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const r = await app.inject({ url: '/readyz' })
    if (r.statusCode === status) return r.json()
    if (Date.now() > deadline) throw new Error(`/readyz did not answer ${status} within ${timeoutMs} ms; last: ${r.statusCode} ${r.body}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

t.test('/readyz is 503 while NATS is away and 200 again once the client has reconnected', async t => {
  const storeDir = await mkdtemp(join(tmpdir(), 'jetway-readyz-nats-'))
  t.teardown(async () => { await rm(storeDir, { recursive: true, force: true }) })
  let server = await startNatsServer({ port: -1, storeDir })
  t.teardown(async () => { await server.stop() })
  const port = Number(new URL(server.url.replace(/^nats:/, 'http:')).port)
  // (the projections on the HTTP thread, PROJECTIONS_THREAD=off, a mode kept under test)
  const { app } = await startService(t, { natsUrl: server.url, env: { PROJECTIONS_THREAD: 'off' } })
  t.equal((await readyz(app, 200)).nats, true)

  await server.stop()
  const down = await readyz(app, 503)
  t.equal(down.nats, false)
  t.match(down.reasons, [/NATS is disconnected/])

  server = await startNatsServer({ port, storeDir })
  const up = await readyz(app, 200)
  t.equal(up.nats, true, 'ready again after the reconnect')
})

t.test('an api-only process is not ready while the checkpoints it reads are stale', async t => {
  const natsUrl = await natsServer(t)
  const projections = await startService(t, { natsUrl, env: { ROLES: 'projections,workers' } })
  const api = await startService(t, { natsUrl, dataDir: projections.dataDir, env: { ROLES: 'api', READ_WAIT: '300ms', READY_MAX_LAG: '5' } })
  await readyz(api.app, 200)

  // the projections process stops feeding collect-events; writes go on
  const runner = projections.runtime.projections.get('collect-events')!
  await runner.stop()
  await post(api.app, '/api/collect', { event_id: 'stale-1', event: 'view', user_id: 'u' })
  const stalled = await readyz(api.app, 503)
  t.match(stalled.reasons, [/collect-events has not moved from COLLECT:0 for over 300 ms while behind/], 'behind, and the checkpoint does not move')
  t.match(stalled.projections['collect-events'], { pending: 1, caughtUp: false })

  await post(api.app, '/api/collect/batch', { events: Array.from({ length: 10 }, (_, i) => ({ event_id: `stale-b${i}`, event: 'view', user_id: 'u' })) })
  t.match((await readyz(api.app, 503)).reasons, [/collect-events lags COLLECT by 11 messages \(READY_MAX_LAG 5\)/])

  await runner.start()
  t.match((await readyz(api.app, 200)).projections['collect-events'], { pending: 0, caughtUp: true })
})
