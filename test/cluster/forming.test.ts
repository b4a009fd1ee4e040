import t from 'tap'
import { Writable } from 'node:stream'
import { natsCluster } from '../fixtures/cluster.js'
import { startService, post, type Service } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

// A start against a cluster still forming (one node of three up: no JetStream meta leader,
// then two: an R3 stream finds "no suitable peers") waits for it, with backoff and a bound,
// instead of failing; once the nodes are up every stream is placed at R3.

t.test('a start against a cluster still forming waits, then places every stream at R3', async t => {
  const cluster = await natsCluster(t, 3, { running: 1 })
  const lines: { msg?: string, err?: string }[] = []
  const logTo = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string, err?: string }); done() } })
  let failed: unknown
  const starting = startService(t, { natsUrl: cluster.url, env: { STREAM_REPLICAS: '3', LOG_LEVEL: 'warn' }, logTo })
    .catch((err: unknown) => { failed = err; return undefined })
  const waiting = async (): Promise<true | undefined> => {
    if (failed !== undefined) throw new Error(`the start failed: ${String(failed)}`)
    return lines.some(l => /not ready|still forming/.test(l.msg ?? '')) ? true : undefined
  }
  await until('the start says it waits for the cluster (one node up)', waiting, 30_000)
  await cluster.restart(1)
  const waited = lines.length
  // two nodes: a meta leader, but no third peer for an R3 stream
  await until('the start waits on (two nodes up)', async () => (await waiting()) === true && lines.length > waited ? true : undefined, 30_000)
  await cluster.restart(2)
  const svc = await starting as Service | undefined
  if (svc === undefined) throw new Error(`the start failed: ${String(failed)}`)

  t.comment(`waited on: ${[...new Set(lines.map(l => l.err).filter(e => e !== undefined))].join('; ')}`)
  const names = cluster.nodes.map(n => n.name).sort()
  for await (const info of svc.runtime.jsm.streams.list()) {
    t.equal(info.config.num_replicas, 3, `${info.config.name} at R3`)
    t.same([info.cluster?.leader, ...(info.cluster?.replicas ?? []).map(r => r.name)].sort(), names, `${info.config.name} on the three nodes`)
  }
  const r = await post(svc.app, '/api/collect', { event_id: 'e1', event: 'view', user_id: 'u1' })
  t.equal(r.statusCode, 200, 'and it takes writes')
})
