import t from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, type Service } from '../fixtures/service.js'
import { postgresDatabase } from '../fixtures/postgres.js'
import { until } from '../fixtures/wait.js'
import { eventHeaders } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'

// One stream, two read sides: a service on SQLite and one on PostgreSQL share a nats-server,
// so they project the same events. Every read answers the same bytes on both: orders of text
// (PostgreSQL's own collation here is ICU English, where 'a' < 'B' < 'b'; the columns compare
// bytes as SQLite does), ties broken by sequence, JSON built in SQL, numbers (bigint read as
// numbers), cursors, and insertion-ordered lists.

const organizer = { userId: 'org', email: 'org@example.com' }

t.test('a SQLite and a PostgreSQL read side of one stream answer the same bytes', async t => {
  const natsUrl = await natsServer(t)
  const sqlite = await startService(t, { natsUrl, env: { JOB_TIMEOUT: '1h' } })
  const pg = await startService(t, { natsUrl, env: { JOB_TIMEOUT: '1h', READ_MODEL_URL: await postgresDatabase() } })
  t.equal(pg.runtime.config.readModelUrl !== undefined && sqlite.runtime.config.readModelUrl === undefined, true, 'one of each')

  const users = ['ann', 'Ann', 'ANN', 'émile', 'zoë', 'Zed', 'b_b', 'b-b', '😀']
  const events = ['view', 'View', 'purchase', 'éclair', 'Zoo', 'apple', 'a b']
  const times = ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5Z', '2023-12-31T23:59:59.999999Z', '2024-02-29T12:00:00+09:00']
  let i = 0
  for (const user of users) {
    for (const event of events) {
      const at = times[i % times.length]!
      const res = await post(sqlite.app, '/api/collect', {
        event_id: `e${i}`,
        event,
        user_id: user,
        event_datetime: at,
        parameters: i % 5 === 0 ? undefined : { n: i, f: i / 8, big: 2 ** 53 - i, s: `"q"\\ ${user}`, nested: { list: [1, 'two', null, true], empty: {} }, ключ: 'значение' }
      })
      t.equal(res.statusCode, 200)
      i++
    }
  }
  for (const user of ['ann', 'bob', 'Ann']) await post(sqlite.app, '/noti/pub', { eventType: 'TRAINING', userId: user })
  const participants = ['Bob@Example.com', 'alice@example.com', 'Zed@example.com', 'emile_2@example.com', '_x@example.com', '1x@example.com', 'x@example.com'].map((email, n) => ({ email, ...(n % 2 === 0 ? { name: `Name ${n} ü` } : {}) }))
  const m1 = await post(sqlite.app, '/api/meetings', { title: 'Später', startsAt: '2030-01-01T10:00:00Z', durationMinutes: 30, location: 'Hall', participants, organizer })
  t.equal(m1.statusCode, 201, m1.body)
  const m2 = await post(sqlite.app, '/api/meetings', { title: 'Earlier', startsAt: '2030-01-01T09:00:00Z', durationMinutes: 60, location: 'Room "2"', participants: participants.slice(1), organizer })
  t.equal(m2.statusCode, 201, m2.body)
  await sqlite.app.inject({ method: 'PATCH', url: `/api/meetings/${m1.json().id as string}`, payload: { title: 'Später 2' } })
  for (const owner of ['ops', 'Ops', 'dev']) await post(sqlite.app, '/api/tasks', { type: 'approval', title: `Deploy for ${owner}`, input: { owner, list: [3, 2, 1] }, owner, timeoutSeconds: 3600 })

  const ends = async (svc: Service): Promise<boolean> => {
    const states = await svc.runtime.readModels.states()
    for (const s of states) {
      if (s.appliedSeq < (await svc.runtime.jsm.streams.info(s.stream)).state.last_seq) return false
    }
    return true
  }
  await until('both read sides current', async () => await ends(sqlite) && await ends(pg) ? true : undefined, 60_000)

  const urls = [
    ...users.map(u => `/api/event/${encodeURIComponent(u)}`),
    ...users.map(u => `/api/event/${encodeURIComponent(u)}?event=${encodeURIComponent('View')}`),
    `/api/event/ann?from=${encodeURIComponent('2024-01-01T00:00:00Z')}&to=${encodeURIComponent('2024-02-01T00:00:00Z')}`,
    '/api/event?user_id=Ann&limit=2',
    '/api/jobs', '/api/jobs?userId=ann', '/api/jobs?limit=1',
    '/api/meetings?userId=org', `/api/meetings?email=${encodeURIComponent('bob@example.com')}`,
    `/api/meetings/${m1.json().id as string}`, `/api/meetings/${m2.json().id as string}`, '/api/admin/meetings',
    '/api/tasks', '/api/tasks?owner=ops', '/api/tasks?limit=1'
  ]
  // follow the search's cursors too
  for (let cursor: string | null = null, page = 0; page < 20; page++) {
    const url: string = `/api/event/ann?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`
    urls.push(url)
    cursor = (await sqlite.app.inject({ url })).json().next_cursor as string | null
    if (cursor === null) break
  }
  let compared = 0
  for (const url of urls) {
    const [a, b] = await Promise.all([sqlite.app.inject({ url }), pg.app.inject({ url })])
    t.equal(a.statusCode, 200, url)
    // tasks carry the time of their read (tokens, links): compare what the read model gives
    if (url.startsWith('/api/tasks')) {
      const items = (r: typeof a): unknown => (r.json() as { items: Array<Record<string, unknown>> }).items.map(({ taskToken: _t, links: _l, ...rest }) => rest)
      t.same(items(b), items(a), url)
    } else {
      t.equal(b.body, a.body, `${url}: the same bytes`)
    }
    compared++
  }
  const first = (await sqlite.app.inject({ url: '/api/event/ann' })).json().items as Array<{ event_datetime: string }>
  t.same(first.map(e => e.event_datetime), [...first.map(e => e.event_datetime)].sort(), 'oldest first')
  t.comment(`${compared} reads compared`)

  // PostgreSQL's text cannot hold U+0000: a read asking for one answers as SQLite does (nothing
  // stored matches), and an event carrying one (no edge check saw it: an older build, another
  // writer) does not stop the projection (the row holds U+FFFD there)
  const nul = await Promise.all([sqlite, pg].map(async s => await s.app.inject({ url: '/api/meetings?userId=%00' })))
  t.same(nul.map(r => r.statusCode), [200, 200])
  t.equal(nul[1]!.body, nul[0]!.body)
  await sqlite.runtime.js.publish('collect.user.nul.view', JSON.stringify({ event_id: 'n\u0000', event: 'view', user_id: 'nul\u0000user', parameters: null, event_datetime: '2024-01-01T00:00:00.000000Z', received_at: '2024-01-01T00:00:00.000000Z' }), {
    headers: eventHeaders({ def: Events.collectEventReceived, data: {}, subject: '', source: '/jetway/test', time: new Date() })
  })
  const after = await post(sqlite.app, '/api/collect', { event_id: 'after-nul', event: 'view', user_id: 'ann' })
  for (const s of [sqlite, pg]) {
    const r = await s.app.inject({ url: '/api/event/ann?limit=100', headers: { 'jetway-seq': after.headers['jetway-seq'] as string } })
    t.equal(r.statusCode, 200, 'the projection went on past the event with U+0000')
    t.ok(r.json().items.some((e: { event_id: string }) => e.event_id === 'after-nul'))
  }
  const stored = async (s: Service): Promise<string[]> => (await s.runtime.db.selectFrom('collect_events').select('user_id').where('user_id', 'like', 'nul%').execute()).map(r => r.user_id)
  t.same(await stored(sqlite), ['nul\u0000user'], 'SQLite stored it as it was')
  t.same(await stored(pg), ['nul\uFFFDuser'], 'PostgreSQL stored U+FFFD in its place')
})
