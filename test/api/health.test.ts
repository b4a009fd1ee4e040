import t from 'tap'
import { startService, post } from '../fixtures/service.js'

t.test('healthz, readyz and metrics', async t => {
  const { app } = await startService(t)
  t.same((await app.inject({ url: '/healthz' })).json(), { status: 'ok' })
  const w = await post(app, '/api/collect', { event_id: 'h1', event: 'view', user_id: 'u' })
  await app.inject({ url: `/api/event/u?min_seq=${w.headers['jetway-seq'] as string}` })
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.equal(ready.json().status, 'ok')
  t.equal(ready.json().nats, true)
  t.same(ready.json().projections['collect-events'], { appliedSeq: 1, pending: 0, caughtUp: true, rebuilding: false })
  t.same(Object.keys(ready.json().projections).sort(), ['collect-events', 'erasures', 'jobs', 'meetings', 'notifications', 'relay', 'schedules', 'tasks', 'timers-jobs', 'timers-meetings', 'timers-relay', 'timers-tasks'])
  const metrics = await app.inject({ url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /text\/plain/)
  t.match(metrics.body, /jetway_http_request_duration_seconds_count\{method="POST",route="\/api\/collect",status_code="200"\} 1/)
  t.match(metrics.body, /jetway_projection_applied_seq\{projection="collect-events"\} 1/)
  t.match(metrics.body, /jetway_projection_lag\{projection="collect-events"\} 0/)
  t.match(metrics.body, /jetway_nats_connected 1/)
  t.match(metrics.body, /jetway_timers_pending 0/)
  t.match(metrics.body, /jetway_timers_fired_total 0/)
  t.match((await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } })).headers['x-request-id'], 'abc-123', 'request id echoed')
})

t.test('readyz is 503 while a projection has not caught up', async t => {
  const { app, runtime } = await startService(t)
  const runner = runtime.projections.get('collect-events')!
  await runner.stop()
  await runner.reset()
  const r = await app.inject({ url: '/readyz' })
  t.equal(r.statusCode, 503)
  t.equal(r.json().status, 'not ready')
  await runner.start()
})
