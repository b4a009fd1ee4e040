import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { natsServer, restartableNats } from '../fixtures/nats.js'
import { startService, post } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

/** Polls /readyz until it answers `status`; returns that answer's body. */
async function readyz (app: FastifyInstance, status: 200 | 503, timeoutMs = 20_000): Promise<{ status: string, nats: boolean, reasons?: string[], projections: Record<string, { pending: number, caughtUp: boolean }> }> {
  return await until(`/readyz answering ${status}`, async () => {
    const r = await app.inject({ url: '/readyz' })
    return r.statusCode === status ? r.json() : undefined
  }, timeoutMs)
}

t.test('/readyz is 503 while NATS is away and 200 again once the client has reconnected', async t => {
  const nats = await restartableNats(t)
  // (the projections on the HTTP thread, PROJECTIONS_THREAD=off, a mode kept under test)
  const { app } = await startService(t, { natsUrl: nats.url, env: { PROJECTIONS_THREAD: 'off' } })
  t.equal((await readyz(app, 200)).nats, true)

  await nats.stop()
  const down = await readyz(app, 503)
  t.equal(down.nats, false)
  t.match(down.reasons, [/NATS is disconnected/])

  await nats.start()
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
