import t, { type Test } from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, type Service } from '../fixtures/service.js'
import { readSse, type SseReader } from '../fixtures/sse-fetch.js'
import { walkSubject } from '../../src/store/subject-reader.js'
import { Subjects } from '../../src/store/subjects.js'
import { mapLimit } from '../../src/lib/concurrency.js'

// SSE across a fleet: a client that reconnects to another instance with Last-Event-ID gets
// every event after that id, once, in order, whatever that instance's tail has seen so far.
// The ground truth is the stream itself: every job.status.changed of the user in JOBS.
// FLEET_SSE_RECONNECTS sets the churn's reconnects (default 1000; 10000 with JETWAY_SOAK=1),
// FLEET_SSE_WINDOW how far back (in stream sequences) a random Last-Event-ID may lie.

const SOAK = process.env.JETWAY_SOAK === '1'
const RECONNECTS = Number(process.env.FLEET_SSE_RECONNECTS ?? (SOAK ? 10_000 : 1000))
const WINDOW = Number(process.env.FLEET_SSE_WINDOW ?? 300)
const CLIENTS = 24
const FAST = { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '1s' }
const STATUS = 'job.status.changed'

async function fleet (t: Test, n: number): Promise<Service[]> {
  const natsUrl = process.env.FLEET_NATS_URL ?? await natsServer(t)
  const all: Service[] = []
  for (let i = 0; i < n; i++) all.push(await startService(t, { natsUrl, env: FAST, listen: 0 }))
  return all
}

/**
 * Keeps the stream growing: a job every `everyMs`, through a random running instance, every
 * other one for `user` (the rest for other users, so the user's events are spread out).
 */
function writer (instances: () => Service[], user: string, everyMs: number): { stop: () => Promise<void>, jobs: () => number } {
  const state = { stopped: false }
  let n = 0
  const loop = (async () => {
    while (!state.stopped) {
      const live = instances()
      const via = live[Math.floor(Math.random() * live.length)]!
      const who = n % 2 === 0 ? user : `other-${n % 5}`
      const { eventId } = (await post(via.app, '/noti/pub', { eventType: 'TRAINING', userId: who })).json()
      await post(via.app, `/noti/complete/${eventId as string}`, { eventStatus: n % 3 === 0 ? 'N' : 'Y' })
      n++
      await new Promise(resolve => setTimeout(resolve, everyMs))
    }
  })()
  return { stop: async () => { state.stopped = true; await loop }, jobs: () => n }
}

/** The user's status events as JOBS holds them: the truth every client is checked against. */
async function truthOf (svc: Service, user: string): Promise<number[]> {
  const seqs: number[] = []
  for await (const m of walkSubject(svc.runtime.jsm, 'JOBS', Subjects.jobStatusOfUser(user))) seqs.push(m.seq)
  return seqs
}

/** gaps: missed events; extra: events at or before the id resumed from, or not the user's */
interface Check { gaps: number, duplicates: number, extra: number, outOfOrder: number }

/** What a client got after `after`, against the truth up to the last id it got. */
function check (truth: number[], after: number, got: number[]): Check {
  const last = got.at(-1) ?? after
  const expected = truth.filter(s => s > after && s <= last)
  const seen = new Set(got)
  let outOfOrder = 0
  for (let i = 1; i < got.length; i++) if (got[i]! <= got[i - 1]!) outOfOrder++
  const wanted = new Set(expected)
  return {
    gaps: expected.filter(s => !seen.has(s)).length,
    duplicates: got.length - seen.size,
    extra: got.filter(s => !wanted.has(s)).length,
    outOfOrder
  }
}

async function streamEnd (svc: Service): Promise<number> {
  return (await svc.runtime.jsm.streams.info('JOBS')).state.last_seq
}

const statusIds = (reader: SseReader): number[] => reader.events.filter(e => e.event === STATUS).map(e => Number(e.id))

t.test('a client hops across three instances by Last-Event-ID, one of them shut down under it: no gap, no duplicate', async t => {
  const instances = await fleet(t, 3)
  const running = new Set(instances)
  const w = writer(() => [...running], 'roamer', 15)
  const got: number[] = []
  let lastId = 0
  let hops = 0
  for (let hop = 0; hop < 30; hop++) {
    const live = [...running]
    const to = live[hop % live.length]!
    const reader = await readSse(t, `${to.url}/noti/users/roamer/sub`, { 'last-event-id': String(lastId) })
    if (reader.status !== 200) throw new Error(`hop ${hop}: ${reader.status}`)
    // a few events, then leave (or, once, have the instance shut down under the client)
    const want = 1 + (hop % 4)
    for (let i = 0; i < want; i++) await reader.next(e => e.event === STATUS)
    if (hop === 12) {
      running.delete(to)
      await to.close() // its SSE streams end; the client resumes elsewhere
    }
    reader.close()
    const ids = statusIds(reader)
    got.push(...ids)
    lastId = ids.at(-1) ?? lastId
    hops++
  }
  await w.stop()
  const truth = await truthOf([...running][0]!, 'roamer')
  const result = check(truth, 0, got)
  t.same(result, { gaps: 0, duplicates: 0, extra: 0, outOfOrder: 0 }, 'every event once, in order, across the hops')
  t.ok(got.length >= 30, `${got.length} events over ${hops} connections to 3 instances`)
  t.comment(`hops: ${hops} connections, ${got.length} events, gaps 0, duplicates 0 (one instance shut down at hop 13)`)
})

t.test(`SSE churn: ${RECONNECTS} reconnects with random Last-Event-ID to random instances while JOBS grows`, async t => {
  const instances = await fleet(t, 3)
  const w = writer(() => instances, 'churner', 10)
  const random = (n: number): number => Math.floor(Math.random() * n)
  // let the stream hold something to resume into
  while (w.jobs() < 40) await new Promise(resolve => setTimeout(resolve, 20))
  const sessions: { after: number, end: number, got: number[] }[] = []
  const started = Date.now()
  await mapLimit(Array.from({ length: RECONNECTS }, (_, i) => i), CLIENTS, async i => {
    const to = instances[random(instances.length)]!
    const end = await streamEnd(to)
    // mostly a recent id (a client that dropped lately), sometimes one from the start, and
    // sometimes one past what this instance has seen: an id another instance, further ahead
    // in its tail, sent a moment ago
    const after = i % 50 === 0 ? random(end + 1) : i % 10 === 5 ? end + 1 + random(6) : Math.max(0, end - random(WINDOW))
    const reader = await readSse(t, `${to.url}/noti/users/churner/sub`, { 'last-event-id': String(after) })
    if (reader.status !== 200) throw new Error(`reconnect ${i}: ${reader.status}`)
    // read through the replay and the hand-over to live: until an event appended after connecting
    await reader.next(e => e.event === STATUS && Number(e.id) > Math.max(end, after), 20_000)
    reader.close()
    sessions.push({ after, end, got: statusIds(reader) })
  })
  const seconds = (Date.now() - started) / 1000
  await w.stop()
  const truth = await truthOf(instances[0]!, 'churner')
  const total = { gaps: 0, duplicates: 0, extra: 0, outOfOrder: 0 }
  let events = 0
  let live = 0
  let ahead = 0
  for (const s of sessions) {
    const c = check(truth, s.after, s.got)
    total.gaps += c.gaps
    total.duplicates += c.duplicates
    total.outOfOrder += c.outOfOrder
    total.extra += c.extra
    events += s.got.length
    live += s.got.filter(id => id > s.end).length
    if (s.after > s.end) ahead++
  }
  t.equal(sessions.length, RECONNECTS, 'every reconnect reached a live event')
  t.same(total, { gaps: 0, duplicates: 0, extra: 0, outOfOrder: 0 }, 'no gap, no duplicate, in order, in any session')
  t.comment(`churn: ${RECONNECTS} reconnects (${CLIENTS} at a time, 3 instances) in ${seconds.toFixed(1)} s; ${events} events checked (${events - live} up to the stream's end at connect: replayed or handed over, ${live} appended after connecting; ${ahead} sessions resumed from an id past the stream's end at connect); stream grew to ${truth.length} status events of the user in ${w.jobs()} jobs; gaps ${total.gaps}, duplicates ${total.duplicates}, extra ${total.extra}, out of order ${total.outOfOrder}`)
})
