import t from 'tap'
import { natsCluster } from '../fixtures/cluster.js'
import { startService } from '../fixtures/service.js'

// STREAM_REPLICAS=3 on a 3-node cluster: what the servers report, not what Jetway asked for.
// Every stream runs at R3 with a leader and two followers, and so does every durable consumer
// (a consumer's state, its acks and redeliveries, must outlive a node as the stream does).

t.test('with STREAM_REPLICAS=3 every stream and every durable consumer runs on three nodes', async t => {
  const cluster = await natsCluster(t)
  const { runtime } = await startService(t, { natsUrl: cluster.url, env: { STREAM_REPLICAS: '3' } })
  const nodeNames = cluster.nodes.map(n => n.name).sort()

  const streams: string[] = []
  for await (const info of runtime.jsm.streams.list()) {
    streams.push(info.config.name)
    t.equal(info.config.num_replicas, 3, `${info.config.name}: config.num_replicas`)
    const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map(r => r.name)].sort()
    t.same(peers, nodeNames, `${info.config.name}: a leader and two replicas, one on each node`)
  }
  t.same(streams.sort(), ['COLLECT', 'DLQ', 'ERASURES', 'JOBS', 'LEASES', 'MEETINGS', 'NOTIFY', 'RELAY', 'TASKS'])

  let durables = 0
  for (const stream of streams) {
    const streamInfo = await runtime.jsm.streams.info(stream)
    for await (const c of runtime.jsm.consumers.list(stream)) {
      if (c.config.durable_name === undefined) continue // the ordered consumers of tails and projections: R1 by design
      durables++
      const replicas = c.config.num_replicas ?? 0
      t.ok(replicas === 3 || (replicas === 0 && streamInfo.config.num_replicas === 3),
        `${stream} > ${c.name}: config.num_replicas ${replicas} (0 inherits the stream's 3)`)
      const peers = [c.cluster?.leader, ...(c.cluster?.replicas ?? []).map(r => r.name)].sort()
      t.same(peers, nodeNames, `${stream} > ${c.name}: a leader and two replicas, one on each node`)
    }
  }
  t.ok(durables >= 10, `durable consumers checked: ${durables}`)
})

t.test('scaling up: streams created at R1, restarted with STREAM_REPLICAS=3, go R3 with their consumers', async t => {
  const cluster = await natsCluster(t)
  const first = await startService(t, { natsUrl: cluster.url, env: { STREAM_REPLICAS: '1' } })
  t.equal((await first.runtime.jsm.streams.info('JOBS')).config.num_replicas, 1, 'JOBS starts at R1')
  t.equal((await first.runtime.jsm.consumers.info('JOBS', 'completion-worker')).cluster?.replicas?.length ?? 0, 0, 'its consumer too')
  await first.close()

  const { runtime } = await startService(t, { natsUrl: cluster.url, env: { STREAM_REPLICAS: '3' } })
  const info = await cluster.waitCurrent('JOBS')
  t.equal(info.config.num_replicas, 3, 'JOBS updated to R3')
  const deadline = Date.now() + 20_000
  let peers = 0
  while (Date.now() < deadline) {
    const c = await runtime.jsm.consumers.info('JOBS', 'completion-worker')
    peers = 1 + (c.cluster?.replicas?.length ?? 0)
    if (peers === 3) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(peers, 3, 'completion-worker follows its stream to three nodes')
})
