import t from 'tap'
import { startService, post } from '../fixtures/service.js'

const good = { event_id: 'e1', event: 'purchase', user_id: 'u1', parameters: { order_id: 'o', currency: 'KRW', price: 1 } }

t.test('each class of bad input gets a problem body naming the field, and appends nothing', async t => {
  const { app, runtime } = await startService(t)
  const cases: [string, unknown, { field: string, message: string }[]][] = [
    ['missing fields', { event: 'purchase' }, [{ field: 'event_id', message: 'is required' }, { field: 'user_id', message: 'is required' }]],
    ['empty fields', { ...good, event_id: '', user_id: '' }, [{ field: 'event_id', message: 'must NOT have fewer than 1 characters' }, { field: 'user_id', message: 'must NOT have fewer than 1 characters' }]],
    ['wrong types', { ...good, event_id: 17, parameters: 'none' }, [{ field: 'event_id', message: 'must be string' }, { field: 'parameters', message: 'must be null' }]],
    ['over-long strings', { ...good, user_id: 'u'.repeat(201), event: 'e'.repeat(65) }, [{ field: 'event', message: 'must NOT have more than 64 characters' }, { field: 'user_id', message: 'must NOT have more than 200 characters' }]],
    ['a body that is not an object', [good], [{ field: '(body)', message: 'must be object' }]]
  ]
  for (const [name, body, errors] of cases) {
    for (const url of ['/api/collect', '/api/event']) {
      const r = await post(app, url, body)
      t.equal(r.statusCode, 400, `${name} on ${url}`)
      t.equal(r.headers['content-type'], 'application/problem+json')
      const problem = r.json()
      t.match(problem, { status: 400, title: 'Bad Request', code: 'JETWAY_VALIDATION', is_success: false })
      t.same(problem.errors, errors, `${name}: fields named`)
    }
  }

  const malformed = await app.inject({ method: 'POST', url: '/api/collect', payload: '{"event_id": "x",', headers: { 'content-type': 'application/json' } })
  t.equal(malformed.statusCode, 400)
  t.match(malformed.json(), { is_success: false, errors: [{ field: '(body)' }] })

  const empty = await app.inject({ method: 'POST', url: '/api/collect', payload: '', headers: { 'content-type': 'application/json' } })
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().is_success, false)

  const text = await app.inject({ method: 'POST', url: '/api/collect', payload: 'event_id=1', headers: { 'content-type': 'text/plain' } })
  t.equal(text.statusCode, 415)
  t.match(text.json(), { status: 415, title: 'Unsupported Media Type', is_success: false })

  const huge = await post(app, '/api/collect', { ...good, parameters: { blob: 'x'.repeat(70 * 1024) } })
  t.equal(huge.statusCode, 413)
  t.match(huge.json(), { status: 413, is_success: false })

  const query = await app.inject({ url: '/api/event?user_id=u1&limit=5000' })
  t.equal(query.statusCode, 400)
  t.same(query.json().errors, [{ field: 'limit', message: 'must be <= 1000' }])

  const noUser = await app.inject({ url: '/api/event' })
  t.equal(noUser.statusCode, 400)
  t.same(noUser.json().errors, [{ field: 'user_id', message: 'is required' }])

  const cursor = await app.inject({ url: '/api/event/u1?cursor=garbage' })
  t.equal(cursor.statusCode, 400)
  t.same(cursor.json().errors, [{ field: 'cursor', message: 'is not a cursor this API returned' }])

  const from = await app.inject({ url: '/api/event/u1?from=yesterday' })
  t.same(from.json().errors, [{ field: 'from', message: 'must be an ISO 8601 date-time' }])

  const seqHeader = await app.inject({ url: '/api/event/u1', headers: { 'jetway-seq': 'abc' } })
  t.equal(seqHeader.statusCode, 400)

  const unknown = await app.inject({ url: '/api/nothing-here' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.headers['content-type'], 'application/problem+json')

  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 0, 'nothing appended')
  const ok = await post(app, '/api/collect', good)
  t.equal(ok.statusCode, 200, 'the service still works')
})
