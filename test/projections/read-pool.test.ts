import t from 'tap'
import { startService, post } from '../fixtures/service.js'
import { searchPage, type SearchQuery } from '../../src/projections/collect-search.js'
import { rawOf } from '../../src/projections/db.js'

// READ_THREADS > 0: searches run in read threads with read-only connections of their own and
// come back as JSON text. They answer what the HTTP thread's connection answers, byte for
// byte, and see a write as soon as the read waited for its sequence.

t.test('searches in read threads answer as the HTTP thread would, and read their writes', async t => {
  const { app, runtime } = await startService(t, { env: { READ_THREADS: '2' } })
  t.equal(runtime.reads.threads, 2)
  const events = Array.from({ length: 30 }, (_, i) => ({
    event_id: `rp-${i}`,
    event: i % 3 === 0 ? 'purchase' : 'view',
    user_id: i % 2 === 0 ? 'reader' : 'ré"ader\\',
    event_datetime: `2024-06-01T00:00:${String(i).padStart(2, '0')}.000001Z`,
    parameters: i % 5 === 0 ? null : { order_id: `o-${i}`, currency: 'KRW', price: i }
  }))
  const batch = await post(app, '/api/collect/batch', { events })
  const seq = batch.headers['jetway-seq'] as string

  const first = await app.inject({ url: `/api/event/reader?limit=4&min_seq=${seq}` })
  t.equal(first.statusCode, 200)
  t.match(first.headers['content-type'], /^application\/json; charset=utf-8$/)
  t.same(first.json().items.map((i: { event_id: string }) => i.event_id), ['rp-0', 'rp-2', 'rp-4', 'rp-6'])
  t.same(first.json().items[1].parameters, { order_id: 'o-2', currency: 'KRW', price: 2 }, 'parameters come back as the JSON they were')
  t.equal(first.json().items[0].parameters, null)

  const queries: SearchQuery[] = [
    { userId: 'reader', limit: 100 },
    { userId: 'ré"ader\\', limit: 7 },
    { userId: 'reader', event: 'purchase', limit: 100 },
    { userId: 'ré"ader\\', from: '2024-06-01T00:00:05.000000Z', to: '2024-06-01T00:00:20.000000Z', limit: 3 },
    { userId: 'reader', after: { datetime: '2024-06-01T00:00:10.000001Z', seq: 11 }, limit: 5 },
    { userId: 'nobody', limit: 10 }
  ]
  const before = runtime.reads.answeredInThreads
  for (const q of queries) {
    const inThread = await runtime.reads.search(q)
    t.equal(inThread, searchPage(rawOf(runtime.db), q), `same text for ${JSON.stringify(q)}`)
    JSON.parse(inThread) // well-formed, with the quote and backslash in the user id escaped
  }
  t.equal(runtime.reads.answeredInThreads - before, queries.length, 'each search was answered by a read thread')

  // read-your-writes through the thread: each read waits for its write's sequence
  for (let i = 0; i < 10; i++) {
    const w = await post(app, '/api/collect', { event_id: `ryw-${i}`, event: 'view', user_id: 'fresh' })
    const r = await app.inject({ url: '/api/event/fresh', headers: { 'jetway-seq': w.headers['jetway-seq'] as string } })
    t.equal(r.json().items.length, i + 1, `write ${i} seen by the read thread`)
  }
})
