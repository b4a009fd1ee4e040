import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream'
import { natsCluster, type NatsCluster } from '../fixtures/cluster.js'
import { startService, type Service } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { decodeEvent, type StoredEvent } from '../../src/store/events.js'

// Failover under a steady write load. One Jetway instance on a 3-node cluster at R3, a few
// clients writing all the time (single and batch collects, jobs started and completed,
// meetings created), and the node that leads COLLECT (and carries Jetway's own connection)
// killed with SIGKILL, then restarted. What must hold:
// - every write answered 2xx is in the read models afterwards, exactly once, and in the
//   streams exactly once;
// - a write during the election is either a 2xx or a 503 with Retry-After and a problem+json
//   body (never a 500, never a 2xx that did not store), and a client that retries it with the
//   same idempotency key (event_id, Idempotency-Key) gets it stored once;
// - the service reconnects by itself: /readyz is 200 again with no one touching it.
// The figures go to the TAP output as comments. JETWAY_SOAK=1 runs more rounds, longer.

const SOAK = process.env.JETWAY_SOAK === '1'
const ROUNDS = SOAK ? 5 : 1
/** how long the load runs before the kill, with the node down once COLLECT has a new leader, and after the restart (ms) */
const PHASES = SOAK ? { before: 3000, down: 10_000, after: 5000 } : { before: 1000, down: 1500, after: 1500 }
const CLIENTS = 4
/**
 * A write still refused this long after the cluster could serve it again (every stream the
 * writes reach has a leader) is given up, and fails the test. Counted from then, not from its
 * first attempt: under load an election can take longer than Jetway's own recovery, and a
 * give-up must say something about Jetway (a CI run gave up four writes 30 s after their first
 * attempt while a stream they wrote to had no leader).
 */
const GIVE_UP_MS = 30_000
/** ...and in any case this long after its first attempt (a stream that never gets a leader) */
const HARD_GIVE_UP_MS = 120_000
/** the streams the load writes to, directly or through the workers */
const STREAMS = ['COLLECT', 'JOBS', 'MEETINGS', 'NOTIFY']

interface Figures {
  attempted: number
  ok: number
  unavailable: number
  /** anything else: a 500, a 503 without Retry-After or problem body, a 2xx whose body says it did not store */
  bad: string[]
  gaveUp: number
  /** each write given up: its kind and every attempt (ms after its first, status, code, ms taken) */
  gaveUpWrites: string[]
}

interface Accepted {
  /** user → event_ids answered 2xx */
  collect: Map<string, Set<string>>
  /** job eventId → the eventStatus its completion was answered 2xx with (undefined: not completed yet) */
  jobs: Map<string, 'Y' | 'N' | undefined>
  /** organizer userId → meeting ids answered 201 */
  meetings: Map<string, Set<string>>
}

/** A client of the HTTP API that retries a 503 after its Retry-After, with the same idempotency key. */
class Client {
  readonly figures: Figures = { attempted: 0, ok: 0, unavailable: 0, bad: [], gaveUp: 0, gaveUpWrites: [] }
  /** when a write first sent after `mark` was answered 2xx, per kind */
  readonly firstOkAfterMark = new Map<string, number>()
  mark = Number.POSITIVE_INFINITY
  /** when every stream had a leader again after the kill (undefined: not yet) */
  servedAt: () => number | undefined = () => undefined
  /** what a give-up prints about the cluster */
  describeCluster: () => string = () => ''
  constructor (private readonly app: FastifyInstance) {}

  /** Sends until 2xx; returns the JSON body, or undefined when the write failed for good. */
  async write (kind: string, method: 'POST', url: string, body: unknown, headers: Record<string, string>, stored: (body: any) => boolean, retry = true): Promise<any> {
    const first = Date.now()
    const attempts: string[] = []
    for (;;) {
      const sentAt = Date.now()
      this.figures.attempted++
      const r = await this.app.inject({ method, url, payload: body as object, headers: { 'content-type': 'application/json', ...headers } })
      attempts.push(`+${sentAt - first}ms ${r.statusCode} ${r.statusCode >= 300 ? String(r.json().code) : ''} in ${Date.now() - sentAt}ms`)
      if (r.statusCode >= 200 && r.statusCode < 300) {
        const json = r.json()
        if (!stored(json)) {
          this.figures.bad.push(`${kind}: ${r.statusCode} ${r.body}`)
          return undefined
        }
        this.figures.ok++
        if (sentAt >= this.mark && !this.firstOkAfterMark.has(kind)) this.firstOkAfterMark.set(kind, Date.now())
        return json
      }
      const retryAfter = Number(r.headers['retry-after'])
      const problem = String(r.headers['content-type']).startsWith('application/problem+json') ? r.json() : undefined
      if (r.statusCode !== 503 || !(retryAfter > 0) || problem?.status !== 503 || typeof problem?.code !== 'string') {
        this.figures.bad.push(`${kind}: ${r.statusCode} retry-after=${String(r.headers['retry-after'])} ${r.body.slice(0, 300)}`)
        return undefined
      }
      this.figures.unavailable++
      this.codes.set(problem.code, (this.codes.get(problem.code) ?? 0) + 1)
      if (!retry) return undefined
      const served = this.servedAt()
      if ((served !== undefined && Date.now() - Math.max(first, served) > GIVE_UP_MS) || Date.now() - first > HARD_GIVE_UP_MS) {
        this.figures.gaveUp++
        this.figures.gaveUpWrites.push(`${kind} ${url}: ${attempts.join('; ')}; ${this.describeCluster()}`)
        return undefined
      }
      await sleep(retryAfter * 1000)
    }
  }

  readonly codes = new Map<string, number>()
}

/**
 * A probe: one single collect every 100 ms, each on its own (not waiting for the one before,
 * not retried), so that a write sent just after the kill shows when the service takes writes
 * again, where the load's clients first wait out the ack timeout of the write they had in flight.
 */
async function probeLoop (client: Client, user: string, accepted: Accepted, stopped: () => boolean): Promise<void> {
  const inFlight = new Set<Promise<void>>()
  for (let n = 0; !stopped(); n++) {
    const eventId = `probe-${n}`
    const p = client.write('probe', 'POST', '/api/collect', { event_id: eventId, event: 'probe', user_id: user }, {}, b => b.is_success === true, false)
      .then(ok => { if (ok !== undefined) accepted.collect.set(user, (accepted.collect.get(user) ?? new Set()).add(eventId)) })
      .finally(() => inFlight.delete(p))
    inFlight.add(p)
    await sleep(100)
  }
  await Promise.all(inFlight)
}

async function readStream (js: JetStreamClient, stream: string, last: number): Promise<StoredEvent[]> {
  const events: StoredEvent[] = []
  if (last === 0) return events
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All })
  const messages = await consumer.consume({ max_messages: 1000 })
  for await (const m of messages) {
    events.push(decodeEvent(m))
    if (m.seq >= last) break
  }
  messages.stop()
  return events
}

function countBy<T> (items: T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) {
    const k = key(item)
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return counts
}

/** One virtual client's loop: a single collect, a batch, a job started and completed, a meeting, round and round. */
async function clientLoop (client: Client, id: number, accepted: Accepted, stopped: () => boolean): Promise<void> {
  const user = `user-${id}`
  const organizer = { userId: `org-${id}`, email: `org-${id}@example.com` }
  const remember = <K, V>(map: Map<K, Set<V>>, k: K, v: V): void => { map.set(k, (map.get(k) ?? new Set()).add(v)) }
  for (let n = 0; !stopped(); n++) {
    switch (n % 4) {
      case 0: {
        const eventId = `c-${id}-${n}`
        const ok = await client.write('collect', 'POST', '/api/collect', { event_id: eventId, event: 'click', user_id: user, parameters: { n } }, {}, b => b.is_success === true)
        if (ok !== undefined) remember(accepted.collect, user, eventId)
        break
      }
      case 1: {
        const ids = Array.from({ length: 5 }, (_, k) => `b-${id}-${n}-${k}`)
        const ok = await client.write('batch', 'POST', '/api/collect/batch', { events: ids.map(eventId => ({ event_id: eventId, event: 'view', user_id: user })) }, {},
          b => b.is_success === true && b.rejected === 0 && b.accepted + b.duplicates === ids.length)
        if (ok !== undefined) for (const eventId of ids) remember(accepted.collect, user, eventId)
        break
      }
      case 2: {
        const pub = await client.write('job', 'POST', '/noti/pub', { eventType: 'DEPLOY', userId: `job-user-${id}` }, { 'idempotency-key': `job-${id}-${n}` }, b => typeof b.eventId === 'string')
        if (pub === undefined) break
        accepted.jobs.set(pub.eventId, undefined)
        const status = n % 8 === 2 ? 'Y' : 'N'
        const done = await client.write('complete', 'POST', `/noti/complete/${pub.eventId as string}`, { eventStatus: status, eventDesc: `run ${n}` }, {}, b => b.accepted === 1)
        if (done !== undefined) accepted.jobs.set(pub.eventId, status)
        break
      }
      case 3: {
        const created = await client.write('meeting', 'POST', '/api/meetings', {
          title: `Sync ${n}`,
          startsAt: new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000).toISOString(),
          durationMinutes: 30,
          location: 'Room 1',
          participants: [{ email: `guest-${id}@example.com` }],
          organizer
        }, { 'idempotency-key': `meeting-${id}-${n}` }, b => typeof b.id === 'string' && b.status === 'scheduled')
        if (created !== undefined) remember(accepted.meetings, organizer.userId, created.id)
        break
      }
    }
  }
}

async function readyz (app: FastifyInstance): Promise<number> {
  return (await app.inject({ url: '/readyz' })).statusCode
}

/** Every event_id a user has in the collect read model, with how often it appears there. */
async function collectedIds (app: FastifyInstance, user: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>()
  let cursor: string | null = null
  do {
    const r = await app.inject({ url: `/api/event/${user}?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}` })
    if (r.statusCode !== 200) throw new Error(`GET /api/event/${user}: ${r.statusCode} ${r.body}`)
    const page = r.json() as { items: { event_id: string }[], next_cursor: string | null }
    for (const item of page.items) ids.set(item.event_id, (ids.get(item.event_id) ?? 0) + 1)
    cursor = page.next_cursor
  } while (cursor !== null)
  return ids
}

async function round (t: Test, cluster: NatsCluster, svc: Service, roundNo: number): Promise<void> {
  const { app, runtime } = svc
  const accepted: Accepted = { collect: new Map(), jobs: new Map(), meetings: new Map() }
  const clients = Array.from({ length: CLIENTS }, () => new Client(app))
  const probe = new Client(app)
  let stop = false
  const loops = [
    ...clients.map(async (c, i) => { await clientLoop(c, roundNo * 100 + i, accepted, () => stop) }),
    probeLoop(probe, `probe-${roundNo}`, accepted, () => stop)
  ]

  // the victim: the node Jetway is connected to, made the leader of COLLECT
  const victim = cluster.nodeOf(runtime.nc)
  let killedAt = 0
  let restartedAt = 0
  let electedAt = 0
  /** per stream, ms from the kill to a leader seen again */
  const leaderBack = new Map<string, number>()
  let servedAt: number | undefined
  for (const c of [...clients, probe]) {
    c.servedAt = () => servedAt
    c.describeCluster = () => `leaders after the kill: ${STREAMS.map(s => `${s} ${leaderBack.has(s) ? `${leaderBack.get(s)!} ms` : 'not yet'}`).join(', ')}`
  }
  let leaders: Promise<void> = Promise.resolve()
  try {
    await cluster.moveLeader('COLLECT', victim)
    const led: string[] = []
    for (const stream of STREAMS) if (await cluster.leaderOf(stream) === victim) led.push(stream)
    await sleep(PHASES.before)

    killedAt = Date.now()
    for (const c of [...clients, probe]) c.mark = killedAt
    await cluster.kill(victim)
    t.comment(`round ${roundNo}: killed ${cluster.nodes[victim]!.name} (leader of ${led.join(', ')}; Jetway's connection)`)
    // every stream the load writes to, led again (each stream's election on its own)
    leaders = Promise.all(STREAMS.map(async stream => {
      await cluster.leaderOf(stream, HARD_GIVE_UP_MS)
      leaderBack.set(stream, Date.now() - killedAt)
    })).then(() => { servedAt = Date.now() })
    leaders.catch(() => {}) // (awaited below, once the load has stopped)
    // nats-server's Raft elects a new leader 4 to 9 s after the old one went silent
    const newLeader = cluster.nodes[await cluster.leaderOf('COLLECT')]!.name
    electedAt = Date.now()
    t.not(newLeader, cluster.nodes[victim]!.name, `COLLECT has a new leader while ${cluster.nodes[victim]!.name} is down: ${newLeader}`)
    await sleep(PHASES.down)
    await cluster.restart(victim)
    restartedAt = Date.now()
    await sleep(PHASES.after)
  } finally {
    stop = true
    await Promise.all(loops)
  }
  await leaders
  t.comment(`round ${roundNo}: ${[...clients][0]!.describeCluster()}`)

  // the service came back by itself: connected to a live node, and ready
  await until('/readyz 200 after the failover', async () => await readyz(app) === 200 ? true : undefined, 30_000)
  t.ok(runtime.nats.connected, 'NATS connection back')
  await cluster.waitCurrent('COLLECT')

  const loadEndedAt = Date.now()
  const figures = [...clients, probe].map(c => c.figures)
  const sum = (f: (x: Figures) => number): number => figures.reduce((a, x) => a + f(x), 0)
  const bad = figures.flatMap(f => f.bad)
  t.same(bad.slice(0, 10), [], `no 500, no 503 without Retry-After and problem body, no 2xx that did not store (${bad.length})`)
  t.equal(sum(f => f.gaveUp), 0, 'every write retried after a 503 was accepted in the end')
  for (const write of figures.flatMap(f => f.gaveUpWrites)) t.comment(`given up: ${write}`)

  // read models: every accepted write present exactly once
  let lostCollect = 0
  let dupCollect = 0
  await until('the collect read model has every accepted event', async () => {
    lostCollect = 0
    dupCollect = 0
    for (const [user, ids] of accepted.collect) {
      const stored = await collectedIds(app, user)
      for (const id of ids) if (!stored.has(id)) lostCollect++
      for (const n of stored.values()) if (n > 1) dupCollect++
    }
    return lostCollect === 0 ? true : undefined
  }, 20_000).catch(() => {})
  let lostJobs = 0
  const lostJobViews: string[] = []
  await until('every job has the status it was completed with', async () => {
    lostJobs = 0
    lostJobViews.length = 0
    for (const [eventId, status] of accepted.jobs) {
      const r = await app.inject({ url: `/noti/jobs/${eventId}` })
      if (r.statusCode !== 200 || (status !== undefined && r.json().status !== status)) {
        lostJobs++
        lostJobViews.push(`${eventId} completed ${String(status)}: ${r.statusCode} ${r.body}`)
      }
    }
    return lostJobs === 0 ? true : undefined
  }, 20_000).catch(() => {})
  let lostMeetings = 0
  let dupMeetings = 0
  await until('every accepted meeting is listed', async () => {
    lostMeetings = 0
    dupMeetings = 0
    for (const [userId, ids] of accepted.meetings) {
      const r = await app.inject({ url: `/api/meetings?userId=${userId}&limit=500` })
      const listed = countBy((r.json() as { items: { id: string }[] }).items, m => m.id)
      for (const id of ids) if (!listed.has(id)) lostMeetings++
      for (const n of listed.values()) if (n > 1) dupMeetings++
    }
    return lostMeetings === 0 ? true : undefined
  }, 20_000).catch(() => {})

  // streams: each write stored once, however often it was retried
  const stream = async (name: string): Promise<StoredEvent[]> => await readStream(runtime.js, name, (await runtime.jsm.streams.info(name)).state.last_seq)
  const collectEvents = await stream('COLLECT')
  const jobEvents = await stream('JOBS')
  const meetingEvents = await stream('MEETINGS')
  const dupsIn = (events: StoredEvent[], type: string, key: (data: any) => string): number =>
    [...countBy(events.filter(e => e.type === type), e => key(e.data)).values()].filter(n => n > 1).length
  const streamDups = {
    collect: dupsIn(collectEvents, 'collect.event.received', d => `${d.user_id as string}/${d.event_id as string}`),
    requested: dupsIn(jobEvents, 'job.requested', d => d.eventId),
    completed: dupsIn(jobEvents, 'job.completed', d => d.eventId),
    statusChanged: dupsIn(jobEvents, 'job.status.changed', d => d.eventId),
    meetings: dupsIn(meetingEvents, 'meeting.scheduled', d => d.meetingId)
  }
  for (const view of lostJobViews.slice(0, 3)) {
    const id = view.split(' ')[0]!
    t.comment(`lost job: ${view}; in JOBS: ${JSON.stringify(jobEvents.filter(e => (e.data as { eventId?: string }).eventId === id).map(e => [e.seq, e.type, e.natsSubject]))}`)
  }
  const acceptedCollect = [...accepted.collect.values()].reduce((a, s) => a + s.size, 0)
  t.equal(lostCollect, 0, `every accepted collect event is in the read model (${acceptedCollect})`)
  t.equal(lostJobs, 0, `every accepted job is there with its completion (${accepted.jobs.size})`)
  t.equal(lostMeetings, 0, `every accepted meeting is listed (${[...accepted.meetings.values()].reduce((a, s) => a + s.size, 0)})`)
  t.equal(dupCollect + dupMeetings, 0, 'no duplicate in the read models')
  t.same(streamDups, { collect: 0, requested: 0, completed: 0, statusChanged: 0, meetings: 0 }, 'no write stored twice in the streams')

  const after = (kind: string): string => {
    const at = clients.map(c => c.firstOkAfterMark.get(kind)).filter((x): x is number => x !== undefined)
    return at.length === 0 ? 'none' : `${Math.min(...at) - killedAt} ms`
  }
  const codes = new Map<string, number>()
  for (const c of [...clients, probe]) for (const [code, n] of c.codes) codes.set(code, (codes.get(code) ?? 0) + n)
  t.comment(`round ${roundNo}: writes attempted ${sum(f => f.attempted)}, 2xx ${sum(f => f.ok)}, 503 ${sum(f => f.unavailable)} (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}), ` +
    `other ${bad.length}, gave up ${sum(f => f.gaveUp)}, lost ${lostCollect + lostJobs + lostMeetings}, duplicates ${dupCollect + dupMeetings + Object.values(streamDups).reduce((a, b) => a + b, 0)}`)
  t.comment(`round ${roundNo}: kill → first 2xx of a write sent after it: any ${[...new Set(clients.flatMap(c => [...c.firstOkAfterMark.values()]))].length === 0 ? 'none' : `${Math.min(...clients.flatMap(c => [...c.firstOkAfterMark.values()])) - killedAt} ms`}, ` +
    `collect ${after('collect')}, batch ${after('batch')}, job ${after('job')}, complete ${after('complete')}, meeting ${after('meeting')}; COLLECT leader seen after ${electedAt - killedAt} ms; node back after ${restartedAt - killedAt} ms`)
  const probeOk = probe.firstOkAfterMark.get('probe')
  t.comment(`round ${roundNo}: probe (a single collect every 100 ms, not retried): kill → first 2xx of one sent after it ${probeOk === undefined ? 'none' : `${probeOk - killedAt} ms`}; ` +
    `${probe.figures.ok} 2xx, ${probe.figures.unavailable} 503; checks after the load took ${Date.now() - loadEndedAt} ms`)
}

t.test('kill -9 of the COLLECT leader under a write load: 2xx or 503 + Retry-After, nothing lost, nothing twice, back by itself', async t => {
  const cluster = await natsCluster(t)
  // READY_MAX_LAG=0: /readyz 200 only once every read model has applied its whole stream
  const svc = await startService(t, { natsUrl: cluster.url, env: { STREAM_REPLICAS: '3', READY_MAX_LAG: '0' } })
  for (let r = 1; r <= ROUNDS; r++) await round(t, cluster, svc, r)
})
