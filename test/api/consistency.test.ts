import t from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, seqOf } from '../fixtures/service.js'

t.test('an api-only process sharing DATA_DIR with a projections process waits for jetway-seq', async t => {
  const natsUrl = await natsServer(t)
  const projections = await startService(t, { natsUrl, env: { ROLES: 'projections,workers' } })
  const api = await startService(t, { natsUrl, dataDir: projections.dataDir, env: { ROLES: 'api', READ_WAIT: '30s' } })
  t.equal(api.runtime.projections.size, 0, 'no runner in the api process')

  // hold the read model back, write through the api process, read with the write's sequence
  const runner = projections.runtime.projections.get('collect-events')!
  await runner.stop()
  const w = await post(api.app, '/api/collect', { event_id: 'split-1', event: 'view', user_id: 'splitter' })
  t.equal(w.headers['jetway-seq'], 'COLLECT:1', 'the sequence names its stream')
  const viaHeader = api.app.inject({ url: '/api/event/splitter', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })
  const viaQuery = api.app.inject({ url: `/api/event/splitter?min_seq=${w.headers['jetway-seq'] as string}` })
  const viaBody = post(api.app, '/api/search', { user_id: 'splitter', min_seq: seqOf(w) })
  await runner.start()
  for (const r of await Promise.all([viaHeader, viaQuery, viaBody])) {
    t.equal(r.statusCode, 200)
    t.same(r.json().items.map((e: { event_id: string }) => e.event_id), ['split-1'], 'waited on the checkpoint in SQLite and saw the write')
  }
})

t.test('jetway-seq: <STREAM>:<n> waits on the read model of that stream, whatever the route reads', async t => {
  // the projections on the HTTP thread (PROJECTIONS_THREAD=off), a mode kept under test
  const { app, runtime } = await startService(t, { env: { READ_WAIT: '30s', PROJECTIONS_THREAD: 'off' } })
  const collect = runtime.projections.get('collect-events')!
  await collect.stop()
  const c = await post(app, '/api/collect', { event_id: 'x-1', event: 'view', user_id: 'mixer' })
  const job = await post(app, '/noti/pub', { eventType: 'TEST', userId: 'mixer' })
  t.equal(c.headers['jetway-seq'], 'COLLECT:1')
  t.equal(job.headers['jetway-seq'], 'JOBS:1')
  const { eventId } = job.json()

  // a job read that names a COLLECT sequence waits for the collect-events read model
  const jobRead = app.inject({ url: `/noti/jobs/${eventId as string}`, headers: { 'jetway-seq': 'COLLECT:1' } })
  // a collect read that names a JOBS sequence waits on jobs (applied), not on the stopped collect-events
  const other = await app.inject({ url: '/api/event/mixer', headers: { 'jetway-seq': job.headers['jetway-seq'] as string } })
  t.equal(other.statusCode, 200)
  t.same(other.json().items, [], 'answered from the (stale) read model without waiting on it')
  t.equal(collect.appliedSeq, 0, 'collect-events still has not applied COLLECT:1')
  await collect.start()
  t.equal((await jobRead).statusCode, 200)
  t.equal((await runtime.readModels.state('collect-events')).appliedSeq, 1, 'the job read returned once collect-events had applied COLLECT:1')

  // a bare number is the route's own stream; a stream no read model reads is a 400
  t.equal((await app.inject({ url: '/api/event/mixer?min_seq=1' })).json().items.length, 1)
  const unknown = await app.inject({ url: '/api/event/mixer', headers: { 'jetway-seq': 'NOPE:1' } })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { code: 'JETWAY_VALIDATION', errors: [{ field: 'Jetway-Seq', message: /no read model reads/ }] })
})

t.test('an impossible sequence is answered at once, not held for READ_WAIT', async t => {
  // READ_WAIT far beyond the test's timeout: a held request would fail the test
  const { app } = await startService(t, { env: { READ_WAIT: '1h' } })
  const w = await post(app, '/api/collect', { event_id: 'i-1', event: 'view', user_id: 'imp' })
  t.equal(w.statusCode, 200)

  const malformed: [Record<string, string>, string, string][] = [
    [{}, '?min_seq=Infinity', 'min_seq'],
    [{}, '?min_seq=1e999', 'min_seq'],
    [{}, '?min_seq=-1', 'min_seq'],
    [{}, '?min_seq=99999999999999999999', 'min_seq'],
    [{ 'jetway-seq': 'Infinity' }, '', 'Jetway-Seq'],
    [{ 'jetway-seq': '1e999' }, '', 'Jetway-Seq'],
    [{ 'jetway-seq': 'COLLECT:Infinity' }, '', 'Jetway-Seq'],
    [{ 'jetway-seq': 'COLLECT:9007199254740993' }, '', 'Jetway-Seq']
  ]
  for (const [headers, query, field] of malformed) {
    const r = await app.inject({ url: `/api/event/imp${query}`, headers })
    t.equal(r.statusCode, 400, `${JSON.stringify(headers)}${query}`)
    t.equal(r.headers['content-type'], 'application/problem+json')
    t.match(r.json().errors, [{ field }], 'the problem names the field')
  }
  const body = await app.inject({ method: 'POST', url: '/api/search', headers: { 'content-type': 'application/json' }, payload: '{"user_id":"imp","min_seq":1e999}' })
  t.equal(body.statusCode, 400)
  t.match(body.json().errors, [{ field: 'min_seq' }])

  for (const [headers, query, field] of [
    [{ 'jetway-seq': 'COLLECT:1000000' }, '', 'Jetway-Seq'],
    [{}, '?min_seq=1000000', 'min_seq'],
    [{}, '?min_seq=COLLECT:2', 'min_seq']
  ] as [Record<string, string>, string, string][]) {
    const r = await app.inject({ url: `/api/event/imp${query}`, headers })
    t.equal(r.statusCode, 412, `${JSON.stringify(headers)}${query}: past the stream's end`)
    t.equal(r.headers['content-type'], 'application/problem+json')
    t.match(r.json(), { code: 'JETWAY_PRECONDITION_FAILED', errors: [{ field, message: /past the end of stream COLLECT/ }] })
  }
  t.equal((await app.inject({ url: '/api/event/imp?min_seq=COLLECT:1' })).json().items.length, 1, 'the real sequence still reads')
})
