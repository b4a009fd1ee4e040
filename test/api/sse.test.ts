import t from 'tap'
import { createSigner } from 'fast-jwt'
import { freePort } from '../fixtures/process.js'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, countOn } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'

const FAST = { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '200ms' }

t.test('eventsource resumes with Last-Event-ID across a server-side disconnect: no gap, no duplicate', async t => {
  const natsUrl = await natsServer(t)
  const port = await freePort()
  const first = await startService(t, { natsUrl, env: FAST, listen: port })
  const jobs: string[] = []
  for (let i = 0; i < 6; i++) jobs.push((await post(first.app, '/noti/pub', { eventType: 'TRAINING', userId: 'resumer' })).json().eventId)

  const sub = subscribe(t, `http://127.0.0.1:${port}/noti/users/resumer/sub`)
  await sub.open()
  for (const id of jobs.slice(0, 3)) await post(first.app, `/noti/complete/${id}`, { eventStatus: 'Y' })
  await sub.until(3)

  // the server goes away (its SSE streams end), more jobs finish meanwhile, a new one starts
  await first.close()
  const other = await startService(t, { natsUrl, env: FAST })
  for (const id of jobs.slice(3)) await post(other.app, `/noti/complete/${id}`, { eventStatus: 'N', eventDesc: 'later' })
  await startService(t, { natsUrl, env: FAST, listen: port })

  const all = await sub.until(6)
  await sub.open(2)
  t.equal(sub.opened, 2, 'reconnected once')
  t.same(all.map(r => (r.data as { eventId: string }).eventId).sort(), [...jobs].sort(), 'every job once: no gap, no duplicate')
  const ids = all.map(r => Number(r.id))
  t.same(ids, [...new Set(ids)].sort((a, b) => a - b), 'ids strictly increase')
  t.equal(await countOn(other.runtime, 'JOBS', 'jobs.status.>'), 6)
})

t.test('a subscribe before the first status waits for it; after it, replays it; query lastEventId skips it', async t => {
  const { app, url } = await startService(t, { env: FAST, listen: 0 })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'u' })).json()
  const before = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  await before.open()
  const done = await post(app, `/noti/complete/${eventId as string}`, { eventStatus: 'Y', eventDesc: 'fine' })
  t.equal(done.statusCode, 200)
  const [live] = await before.until(1)
  const after = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  const [replayed] = await after.until(1)
  t.same(replayed, live, 'the late subscriber gets the same event, same id')

  // raw SSE framing, heartbeat and headers, with ?lastEventId= past the only event
  const ac = new AbortController()
  const r = await fetch(`${url}/noti/sub/${eventId as string}?lastEventId=${live!.id}`, { signal: ac.signal })
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /^text\/event-stream/)
  t.equal(r.headers.get('cache-control'), 'no-cache')
  t.equal(r.headers.get('x-accel-buffering'), 'no')
  t.equal(r.headers.get('content-encoding'), null)
  const reader = r.body!.getReader()
  let text = ''
  while (!text.includes(': heartbeat')) text += new TextDecoder().decode((await reader.read()).value)
  ac.abort()
  t.match(text, /^retry: \d+\n\n/)
  t.notMatch(text, /^id:/m, 'nothing after the given id')

  const bad = await app.inject({ url: `/noti/sub/${eventId as string}`, headers: { 'last-event-id': 'yesterday' } })
  t.equal(bad.statusCode, 400)
})

t.test('two instances on one nats-server: each completion yields one status event and both stream it', async t => {
  const natsUrl = await natsServer(t)
  const a = await startService(t, { natsUrl, env: FAST, listen: 0 })
  const b = await startService(t, { natsUrl, env: FAST, listen: 0 })
  const subA = subscribe(t, `${a.url}/noti/users/pair/sub`)
  const subB = subscribe(t, `${b.url}/noti/users/pair/sub`)
  await Promise.all([subA.open(), subB.open()])
  const jobs: string[] = []
  for (let i = 0; i < 10; i++) {
    const via = i % 2 === 0 ? a : b
    const { eventId } = (await post(via.app, '/noti/pub', { eventType: 'DEPLOY', userId: 'pair' })).json()
    jobs.push(eventId)
    // each completion arrives at both instances, as a redelivering sender would do
    await post(a.app, `/noti/complete/${eventId as string}`, { eventStatus: 'Y' })
    await post(b.app, '/noti/events', [{ id: eventId, eventType: 'x.CompleteEvent', data: {} }])
  }
  const [ra, rb] = await Promise.all([subA.until(10), subB.until(10)])
  t.same(ra.map(r => r.id), rb.map(r => r.id), 'both instances stream the same events')
  t.same(ra.map(r => (r.data as { eventId: string }).eventId), jobs)
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.status.>'), 10, 'exactly one status event per job')
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.completed.>'), 20, 'both completions were received')
})

t.test('jwt mode: a user subscribes only to their own jobs', async t => {
  const SECRET = 'sse-test-secret-0123456789'
  const sign = createSigner({ key: SECRET, expiresIn: 3_600_000 })
  const alice = sign({ sub: 'alice' })
  const bob = sign({ sub: 'bob' })
  const { app, url } = await startService(t, { env: { ...FAST, AUTH_MODE: 'jwt', JWT_SECRET: SECRET }, listen: 0 })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'alice' }, { authorization: `Bearer ${alice}` })).json()
  t.equal((await post(app, '/noti/pub', { eventType: 'TEST', userId: 'alice' }, { authorization: `Bearer ${bob}` })).statusCode, 403)

  t.equal((await fetch(`${url}/noti/sub/${eventId as string}`)).status, 401)
  t.equal((await fetch(`${url}/noti/sub/${eventId as string}`, { headers: { authorization: `Bearer ${bob}` } })).status, 403)
  t.equal((await fetch(`${url}/noti/users/alice/sub?access_token=${bob}`)).status, 403)
  t.equal((await app.inject({ url: `/noti/jobs/${eventId as string}`, headers: { authorization: `Bearer ${bob}` } })).statusCode, 403)
  t.equal((await app.inject({ url: '/noti/sub/no-such-job', headers: { authorization: `Bearer ${alice}` } })).statusCode, 404)

  const own = subscribe(t, `${url}/noti/sub/${eventId as string}`, { authorization: `Bearer ${alice}` })
  const byQuery = subscribe(t, `${url}/noti/users/alice/sub?access_token=${alice}`)
  await Promise.all([own.open(), byQuery.open()])
  // in jwt mode the intake takes a service token (or INTAKE_KEY)
  await post(app, `/noti/complete/${eventId as string}`, { eventStatus: 'Y' }, { authorization: `Bearer ${sign({ sub: 'ml-runner', role: 'service' })}` })
  t.match((await own.until(1))[0]!.data, { eventId, userId: 'alice' })
  t.match((await byQuery.until(1))[0]!.data, { eventId })
})
