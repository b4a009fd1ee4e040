import t from 'tap'
import { startService, post } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

// GET /api/admin/activity, the console's charts: events collected per minute by name (the
// collect-events read model's counts, so every instance's), and this instance's requests.

interface Activity {
  from: string
  requests: { total: number[], clientErrors: number[], serverErrors: number[] }
  collected: { series: Array<{ event: string, counts: number[], total: number }>, other: { counts: number[], total: number, names: number }, total: number }
}

t.test('the ten names collected most, the rest as other, counted once per event; requests and errors', async t => {
  const { app } = await startService(t)
  const events: Array<{ event_id: string, event: string, user_id: string }> = []
  // names e0..e11, e<i> collected 12 - i times: e10 and e11 fall into "other"
  for (let i = 0; i < 12; i++) for (let k = 0; k < 12 - i; k++) events.push({ event_id: `${i}-${k}`, event: `e${i}`, user_id: `u${k % 3}` })
  const r = await post(app, '/api/collect/batch', { events })
  t.equal(r.json().accepted, events.length)
  await post(app, '/api/collect/batch', { events: events.slice(0, 5) }) // duplicates: counted once
  await post(app, '/v1/track', { userId: 'u0', event: 'e0', messageId: 'sdk-1' })
  await post(app, '/api/collect', { event_id: 'x' }) // a 400

  const activity = await until('the counts', async () => {
    const a = (await app.inject({ url: '/api/admin/activity' })).json<Activity>()
    return a.collected.total === events.length + 1 ? a : undefined
  })
  t.same(activity.collected.series.map(s => s.event), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9'])
  t.same(activity.collected.series.map(s => s.total), [13, 11, 10, 9, 8, 7, 6, 5, 4, 3])
  t.match(activity.collected.other, { total: 3, names: 2 })
  const series = activity.collected.series[0]!.counts
  t.equal(series.length, 60)
  t.equal(series.reduce((a, b) => a + b, 0), 13)
  t.ok(series.slice(-2).reduce((a, b) => a + b, 0) === 13, 'in the last minutes of the hour')
  t.ok(activity.requests.total.reduce((a, b) => a + b, 0) >= 4)
  t.ok(activity.requests.clientErrors.reduce((a, b) => a + b, 0) >= 1, 'the 400 counted as a client error')
  t.equal(activity.requests.serverErrors.reduce((a, b) => a + b, 0), 0)
})
