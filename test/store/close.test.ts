import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNatsServer } from '../../src/store/nats-server.js'
import { startService } from '../fixtures/service.js'

// A service whose nats-server is gone still closes: each part gets a bounded time, the NATS
// connection (still trying to reconnect) is closed outright, and nothing is left running.

for (const thread of ['on', 'off']) {
  t.test(`a service closes when its nats-server died under it (PROJECTIONS_THREAD=${thread})`, async t => {
    const storeDir = await mkdtemp(join(tmpdir(), 'jetway-nats-'))
    t.teardown(async () => { await rm(storeDir, { recursive: true, force: true }) })
    const server = await startNatsServer({ port: -1, storeDir })
    const svc = await startService(t, { natsUrl: server.url, env: { PROJECTIONS_THREAD: thread } })
    const w = await svc.app.inject({ method: 'POST', url: '/api/collect', payload: { event_id: 'before', event: 'view', user_id: 'u' } })
    t.equal(w.statusCode, 200)
    await server.stop()

    await svc.app.close()
    const stuck = await svc.runtime.close()
    t.ok(svc.runtime.nc.isClosed(), 'the NATS connection is closed, not left reconnecting')
    t.same(stuck, [], 'every part closed within its bound')
  })
}
