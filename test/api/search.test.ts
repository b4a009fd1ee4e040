import t from 'tap'
import { startService, post, seqOf } from '../fixtures/service.js'

t.test('search by all three routes, with filters and cursor pagination, oldest first', async t => {
  const { app } = await startService(t)
  const events = Array.from({ length: 25 }, (_, i) => ({
    event_id: `s-${String(i).padStart(2, '0')}`,
    event: i % 2 === 0 ? 'view' : 'purchase',
    user_id: 'searcher',
    parameters: null,
    // out of order on purpose: results follow event_datetime, not arrival
    event_datetime: `2024-05-01T00:00:${String(59 - i * 2).padStart(2, '0')}.000001Z`
  }))
  const batch = await post(app, '/api/collect/batch', { events })
  await post(app, '/api/collect', { event_id: 'other', event: 'view', user_id: 'someone-else' })
  const seq = batch.headers['jetway-seq'] as string
  const expected = events.map(e => e.event_id).reverse()

  const viaGet = await app.inject({ url: `/api/event/searcher?min_seq=${seq}` })
  t.equal(viaGet.statusCode, 200)
  t.same(viaGet.json().items.map((i: { event_id: string }) => i.event_id), expected)
  t.equal(viaGet.json().next_cursor, null)
  t.equal(viaGet.json().items[0].event_datetime, '2024-05-01T00:00:11.000001Z')

  const viaQuery = await app.inject({ url: '/api/event?user_id=searcher' })
  t.same(viaQuery.json(), viaGet.json())
  const viaPost = await post(app, '/api/search', { user_id: 'searcher' })
  t.same(viaPost.json(), viaGet.json())

  // pages of 10 over all three routes, joined, give the whole list once
  for (const route of ['get', 'query', 'post'] as const) {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `limit=10${cursor === null ? '' : `&cursor=${cursor}`}`
      const r: Awaited<ReturnType<typeof post>> = route === 'get'
        ? await app.inject({ url: `/api/event/searcher?${q}` })
        : route === 'query'
          ? await app.inject({ url: `/api/event?user_id=searcher&${q}` })
          : await post(app, '/api/search', { user_id: 'searcher', limit: 10, ...(cursor === null ? {} : { cursor }) })
      t.equal(r.statusCode, 200)
      seen.push(...r.json().items.map((i: { event_id: string }) => i.event_id))
      cursor = r.json().next_cursor
      pages++
    } while (cursor !== null)
    t.equal(pages, 3, `${route}: three pages`)
    t.same(seen, expected, `${route}: every event once, in order`)
  }

  const purchases = await app.inject({ url: '/api/event/searcher?event=purchase' })
  t.equal(purchases.json().items.length, 12)
  t.ok(purchases.json().items.every((i: { event: string }) => i.event === 'purchase'))

  const window = await post(app, '/api/search', { user_id: 'searcher', from: '2024-05-01T00:00:20Z', to: '2024-05-01T09:00:30+09:00' })
  t.same(window.json().items.map((i: { event_datetime: string }) => i.event_datetime.slice(17, 19)), ['21', '23', '25', '27', '29'])

  const nobody = await app.inject({ url: '/api/event/nobody' })
  t.same(nobody.json(), { items: [], next_cursor: null })
})

t.test('read-your-writes: a read with the write sequence waits for the projection', async t => {
  const { app, runtime } = await startService(t)
  const runner = runtime.projections.get('collect-events')!
  // Hold the projection back: stop its runner, write, then read with the sequence.
  await runner.stop()
  const w = await post(app, '/api/collect', { event_id: 'ryw', event: 'view', user_id: 'ryw-user' })
  const seq = w.headers['jetway-seq'] as string
  const stale = await app.inject({ url: '/api/event/ryw-user' })
  t.same(stale.json().items, [], 'without the sequence a read may be stale')

  const waiting = app.inject({ url: '/api/event/ryw-user', headers: { 'jetway-seq': seq } })
  const viaQuery = app.inject({ url: `/api/event/ryw-user?min_seq=${seq}` })
  await runner.start()
  t.equal((await waiting).json().items.length, 1, 'header: waited and saw the write')
  t.equal((await viaQuery).json().items.length, 1, 'query: waited and saw the write')

  const future = await app.inject({ url: `/api/event/ryw-user?min_seq=${seqOf(w) + 100}` })
  t.equal(future.statusCode, 412, 'a sequence past the stream\'s end is answered at once')

  await runner.stop()
  const held = await post(app, '/api/collect', { event_id: 'ryw-2', event: 'view', user_id: 'ryw-user' })
  const late = await app.inject({ url: '/api/event/ryw-user', headers: { 'jetway-seq': held.headers['jetway-seq'] as string } })
  t.equal(late.statusCode, 503, 'a sequence never reached times out, bounded')
  t.equal(late.headers['retry-after'], '1')
  t.equal(late.json().code, 'JETWAY_PROJECTION_LAGGING')
  await runner.start()
})
