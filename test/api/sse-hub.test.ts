import t from 'tap'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect } from '@nats-io/transport-node'
import { freePort } from '../fixtures/process.js'
import { natsServer } from '../fixtures/nats.js'
import { startService, post } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'
import { until } from '../fixtures/wait.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { Subjects } from '../../src/store/subjects.js'
import type { Runtime } from '../../src/runtime.js'

const FAST = { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '200ms' }

/** Appends a job.status.changed as the completion worker would (the SSE hub streams these). */
async function status (runtime: Runtime, userId: string, eventId: string, eventDesc = ''): Promise<number> {
  const appended = await appendEvent(runtime.js, {
    def: Events.jobStatusChanged,
    data: { eventId, eventStatus: 'Y', eventDesc, eventType: 'TEST', userId },
    subject: Subjects.jobStatus(userId, eventId),
    source: '/test',
    time: new Date()
  })
  return appended.seq
}

/** GETs an SSE route and reads until `text` has arrived; the abort closes it. */
async function openRaw (url: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string, headers: Headers, close: () => void }> {
  const ac = new AbortController()
  const r = await fetch(url, { headers, signal: ac.signal })
  if (r.status !== 200) return { status: r.status, text: await r.text(), headers: r.headers, close: () => {} }
  const reader = r.body!.getReader()
  let text = ''
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  return { status: 200, text, headers: r.headers, close: () => { ac.abort() } }
}

t.test('the per-user stream opens with id: <high-water>; a client that drops before its first event resumes with no gap', async t => {
  const natsUrl = await natsServer(t)
  const port = await freePort()
  const first = await startService(t, { natsUrl, env: FAST, listen: port })
  // other users' events: the high-water mark is past them
  for (let i = 0; i < 3; i++) await status(first.runtime, 'someone-else', `before-${i}`)
  await until('the hub has seen them', () => first.runtime.hubs.jobs.highWater === 3 ? true : undefined)

  const raw = await openRaw(`${first.url}/noti/users/early/sub`)
  t.match(raw.text, /^retry: 2000\n\nid: 3\nevent: position\ndata:\n\n/, 'the stream opens at the high-water mark')
  raw.close()

  const sub = subscribe(t, `${first.url}/noti/users/early/sub`)
  let position = ''
  sub.es.addEventListener('position', (e: MessageEvent) => { position = e.lastEventId })
  await sub.open()
  await until('the position event arrived', () => position !== '' ? true : undefined)
  t.equal(position, '3')

  // the connection drops before any event of this user; one happens while it is away
  await first.close()
  const other = await startService(t, { natsUrl, env: FAST })
  const seq = await status(other.runtime, 'early', 'while-away')
  await startService(t, { natsUrl, env: FAST, listen: port })
  await sub.open(2)
  const [got] = await sub.until(1)
  t.equal(got!.id, String(seq), 'replayed from the id it opened with: no gap')
  t.equal(sub.opened, 2)
})

t.test('a slow client past its buffer is destroyed, its socket freed', async t => {
  const { app, runtime, url } = await startService(t, { env: { ...FAST, SSE_HEARTBEAT: '1h', SSE_MAX_BUFFER: '65536' }, listen: 0 })
  const sockets: Socket[] = []
  app.server.on('connection', (s: Socket) => sockets.push(s))
  const client = tcpConnect(Number(new URL(url).port), '127.0.0.1')
  t.teardown(() => { client.destroy() })
  await new Promise(resolve => client.once('connect', resolve))
  client.write('GET /noti/users/slow/sub HTTP/1.1\r\nHost: localhost\r\n\r\n')
  client.pause() // and never read
  await until('the SSE response is live', () => runtime.hubs.jobs.listenerCount('user:slow') === 1 ? true : undefined)
  const [server] = sockets
  t.equal(sockets.length, 1)

  // 2 KB events until the kernel's socket buffers and then SSE_MAX_BUFFER are full
  const desc = 'x'.repeat(2000)
  let n = 0
  while (!server!.destroyed && n < 20_000) {
    await Promise.all(Array.from({ length: 100 }, async () => await status(runtime, 'slow', `slow-${n++}`, desc)))
  }
  await until('the server socket is destroyed', () => server!.destroyed ? true : undefined)
  t.ok(server!.destroyed, `destroyed after ${n} events, not left ending while the client never reads`)
  t.equal(runtime.hubs.jobs.listenerCount('user:slow'), 0, 'and unsubscribed from the hub')
})

t.test('per-job replay finds a status far into JOBS in one look-up, and replays read from the stream leader', async t => {
  const { app, runtime, url, natsUrl } = await startService(t, { env: FAST, listen: 0 })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'far' })).json()
  // many other messages after the job's request, then its status
  await Promise.all(Array.from({ length: 2000 }, async (_, i) => await status(runtime, `crowd-${i % 50}`, `crowd-${i}`)))
  const done = await post(app, `/noti/complete/${eventId as string}`, { eventStatus: 'Y' })
  t.equal(done.statusCode, 200)
  await until('the status is in the read model', async () =>
    (await app.inject({ url: `/noti/jobs/${eventId as string}` })).json().status === 'Y' ? true : undefined)
  const statusSeq = (await runtime.jsm.streams.getMessage('JOBS', { last_by_subj: Subjects.jobStatus('far', eventId) }))!.seq
  t.ok(statusSeq > 2000)

  // every JetStream API request from here on
  const spy = await connect({ servers: natsUrl })
  t.teardown(async () => { await spy.close() })
  const requests: { subject: string, body: string }[] = []
  spy.subscribe('$JS.API.>', { callback: (_err, m) => { requests.push({ subject: m.subject, body: m.string() }) } })
  await spy.flush()

  const sub = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  const [got] = await sub.until(1)
  t.equal(got!.id, String(statusSeq))
  t.match(got!.data, { eventId, eventStatus: 'Y', userId: 'far' })
  sub.es.close()
  // the spy is another connection: its copy of the request may arrive after the event did
  await until('the spy saw the look-up', () => requests.some(r => r.subject === '$JS.API.STREAM.MSG.GET.JOBS') ? true : undefined)
  await spy.flush()
  t.same(requests.filter(r => r.subject.startsWith('$JS.API.DIRECT.GET')), [], 'no direct get (a replica may answer those)')
  const gets = requests.filter(r => r.subject === '$JS.API.STREAM.MSG.GET.JOBS')
  t.equal(gets.length, 1, 'one look-up, however far into the stream the status sits')
  t.same(JSON.parse(gets[0]!.body), { last_by_subj: Subjects.jobStatus('far', eventId) })

  // a per-user resume walks the gap with MSG.GET (the leader answers), from Last-Event-ID on
  requests.length = 0
  const resumed = subscribe(t, `${url}/noti/users/far/sub`, { 'last-event-id': String(statusSeq - 1) })
  t.equal((await resumed.until(1))[0]!.id, String(statusSeq))
  resumed.es.close()
  await until('the spy saw the walk', () => requests.some(r => r.subject === '$JS.API.STREAM.MSG.GET.JOBS') ? true : undefined)
  await spy.flush()
  t.same(requests.filter(r => r.subject.startsWith('$JS.API.DIRECT.GET')), [])
  t.match(requests.filter(r => r.subject === '$JS.API.STREAM.MSG.GET.JOBS').map(r => JSON.parse(r.body)),
    [{ seq: statusSeq, next_by_subj: Subjects.jobStatusOfUser('far') }])
})
