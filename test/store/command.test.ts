import t, { type Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { natsServer } from '../fixtures/nats.js'
import { handleCommand, loadState, type Aggregate, type CommandStore } from '../../src/store/command.js'
import { appendEvent, decodeEvent } from '../../src/store/events.js'
import { jobAggregate, type JobState } from '../../src/domain/job.js'
import { TaskClosed } from '../../src/domain/task.js'
import { Events, decision, type Decided } from '../../src/schema/events/index.js'
import { ErrorCodes, JetwayError, VersionConflict } from '../../src/lib/errors.js'
import { systemClock } from '../../src/lib/time.js'

// The command handler against a real nats-server 2.9: a decision is one event or none, so it
// is stored whole or not at all; a version conflict is decided again, a domain refusal is the
// answer; an aggregate spread over subjects (a job) expects the last sequence of each it reads.

async function setUp (t: Test): Promise<CommandStore & { jsm: JetStreamManager }> {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'] })
  return { js: jetstream(nc), jsm, clock: systemClock }
}

const count = async (jsm: JetStreamManager, filter: string): Promise<number> =>
  Object.values((await jsm.streams.info('JOBS', { subjects_filter: filter })).state.subjects ?? {}).reduce((a, b) => a + b, 0)

const request = (eventId: string) => ({ kind: 'request' as const, eventId, eventType: 'TRAINING' as const, userId: 'u1', at: new Date(), defaultTimeoutMs: 60_000 })
const meta = { source: '/test' }

t.test('a decider that returns more than one event is refused before anything is stored', async t => {
  const store = await setUp(t)
  const twice: Aggregate<JobState, string> = {
    ...jobAggregate,
    decide: () => [decision(Events.jobRequested, request('j1') as never), decision(Events.jobRequested, request('j1') as never)] as unknown as Decided
  }
  await t.rejects(handleCommand(store, twice, 'j1', 'go', meta), /decided 2 events; a decision is one event at most/)
  t.equal(await count(store.jsm, 'jobs.>'), 0, 'not one of them stored')
})

t.test('a job: requested once, its first completion wins across racing handlers, its timeout appends beside completions', async t => {
  const store = await setUp(t)
  const first = await handleCommand(store, jobAggregate, 'j1', request('j1'), { ...meta, correlationId: 'corr-1' })
  t.equal(first.appended.length, 1)
  const again = await handleCommand(store, jobAggregate, 'j1', request('j1'), meta)
  t.same(again.appended, [], 'requested again: nothing')
  t.equal(again.version, first.version)

  // twelve completions at once, as from twelve instances: each loads a job without a status and
  // appends expecting an empty status subject; the losers get a version conflict, decide again
  // on the newer state, and find nothing to do. No error reaches them.
  const results = await Promise.all(Array.from({ length: 12 }, async (_, i) =>
    await handleCommand(store, jobAggregate, 'j1', { kind: 'complete', eventId: 'j1', eventStatus: i % 2 === 0 ? 'Y' : 'N', eventDesc: `c${i}` }, meta)))
  t.equal(results.filter(r => r.appended.length === 1).length, 1, 'one handler appended the status')
  t.equal(await count(store.jsm, 'jobs.status.>'), 1, 'one status in JOBS')
  const winner = results.find(r => r.appended.length === 1)!
  const { state } = await loadState(store, jobAggregate, 'j1')
  t.same(state!.status, winner.state!.status, 'every later look sees the first one')
  const stored = decodeEvent((await store.jsm.streams.getMessage('JOBS', { seq: winner.appended[0]! }))!)
  t.match(stored, { natsSubject: 'jobs.status.u1.j1', type: 'job.status.changed', correlationId: 'corr-1' }, 'on its subject, carrying the request\'s correlation id')

  // a completion as received is stored first on jobs.completed.j2: the timeout, which does not
  // read that subject, appends beside it and expects nothing there
  await handleCommand(store, jobAggregate, 'j2', request('j2'), meta)
  await appendEvent(store.js, { def: Events.jobCompleted, data: { eventId: 'j2', eventStatus: 'Y', eventDesc: '', origin: 'intake' }, subject: 'jobs.completed.j2', source: '/test', time: new Date() })
  const timedOut = await handleCommand(store, jobAggregate, 'j2', { kind: 'timeOut', eventId: 'j2' }, meta)
  t.equal(timedOut.appended.length, 1)
  t.equal(await count(store.jsm, 'jobs.completed.j2'), 2)
  t.same(await handleCommand(store, jobAggregate, 'j1', { kind: 'timeOut', eventId: 'j1' }, meta).then(r => r.appended), [], 'a job with its status does not time out')
})

t.test('a domain refusal is the answer, decided once; a stale If-Match is 412; a lost race past the attempts is a VersionConflict', async t => {
  const store = await setUp(t)
  let decided = 0
  const refusing: Aggregate<JobState, string> = { ...jobAggregate, decide: () => { decided++; throw new TaskClosed('t1', 'SUCCEEDED') } }
  const refusal = await handleCommand(store, refusing, 'j1', 'go', meta).catch((err: unknown) => err)
  t.ok(refusal instanceof TaskClosed)
  t.equal((refusal as JetwayError).code, ErrorCodes.conflict)
  t.equal(decided, 1, 'not retried')

  const { version } = await handleCommand(store, jobAggregate, 'j1', request('j1'), meta)
  await t.rejects(handleCommand(store, jobAggregate, 'j1', { kind: 'complete', eventId: 'j1', eventStatus: 'Y', eventDesc: '' }, { ...meta, expectedVersion: version + 1 }),
    { code: ErrorCodes.preconditionFailed })

  // a rival that writes to the same subject just before each of the handler's appends (a real
  // append on the same server, put in front of the handler's own): every decision loses its race
  let decisions = 0
  const racing: Aggregate<JobState, string> = {
    ...jobAggregate,
    // the rival's events share the request's subject: not one event per subject
    onePerSubject: false,
    decide: () => {
      decisions++
      return [decision(Events.jobStatusChanged, { eventId: 'j1', eventStatus: 'Y', eventDesc: '', eventType: 'TRAINING', userId: 'u1' })]
    },
    subjectOf: () => 'jobs.requested.j1'
  }
  const rivalled = new Proxy(store.js, {
    get (target, prop) {
      if (prop === 'publish') {
        return async (...args: Parameters<typeof target.publish>) => {
          await appendEvent(target, { def: Events.jobCompleted, data: { eventId: 'j1', eventStatus: 'N', eventDesc: 'rival', origin: 'intake' }, subject: args[0], source: '/rival', time: new Date() })
          return await target.publish(...args)
        }
      }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const lost = await handleCommand({ ...store, js: rivalled }, racing, 'j1', 'go', meta).catch((err: unknown) => err)
  t.ok(lost instanceof VersionConflict, 'a VersionConflict once the attempts are spent')
  t.equal((lost as JetwayError).code, 'JETWAY_VERSION_CONFLICT')
  t.equal(decisions, 4, 'decided again on each newer state, four times')
  t.equal(await count(store.jsm, 'jobs.requested.j1'), 1 + 4, 'the request and the rival\'s four: none of the handler\'s')

  // the job itself, rivalled by a status written first: it decides again and finds it done
  const rivalStatus = new Proxy(store.js, {
    get (target, prop) {
      if (prop === 'publish') {
        return async (...args: Parameters<typeof target.publish>) => {
          await appendEvent(target, { def: Events.jobStatusChanged, data: { eventId: 'j3', eventStatus: 'N', eventDesc: 'rival', eventType: 'TRAINING', userId: 'u1' }, subject: 'jobs.status.u1.j3', source: '/rival', time: new Date() })
          return await target.publish(...args)
        }
      }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  await handleCommand(store, jobAggregate, 'j3', request('j3'), meta)
  const late = await handleCommand({ ...store, js: rivalStatus }, jobAggregate, 'j3', { kind: 'complete', eventId: 'j3', eventStatus: 'Y', eventDesc: '' }, meta)
  t.same(late.appended, [], 'nothing appended')
  t.same(late.state!.status, { eventStatus: 'N', eventDesc: 'rival' }, 'the rival\'s status is the job\'s')
  t.equal(await count(store.jsm, 'jobs.status.u1.j3'), 1)
})

t.test('a job\'s completion reads its request in one look-up and decides without reading its status; the append finds out', async t => {
  const store = await setUp(t)
  const looks: string[] = []
  const counting = new Proxy(store.jsm, {
    get (target, prop) {
      if (prop !== 'streams') return Reflect.get(target, prop)
      return new Proxy(target.streams, {
        get (streams, name) {
          if (name === 'getMessage') {
            return async (stream: string, query: Record<string, unknown>) => {
              looks.push(String(query.last_by_subj ?? query.next_by_subj))
              return await streams.getMessage(stream, query as never)
            }
          }
          const value: unknown = Reflect.get(streams, name)
          return typeof value === 'function' ? value.bind(streams) : value
        }
      })
    }
  })
  const counted = { ...store, jsm: counting as JetStreamManager }
  await handleCommand(counted, jobAggregate, 'j1', request('j1'), meta)
  t.same(looks, ['jobs.requested.j1'], 'a request: one look-up of its subject')
  looks.length = 0
  const done = await handleCommand(counted, jobAggregate, 'j1', { kind: 'complete', eventId: 'j1', eventStatus: 'Y', eventDesc: '' }, meta)
  t.equal(done.appended.length, 1)
  t.same(looks, ['jobs.requested.j1'], 'its completion: the request, not the status')
  looks.length = 0
  const second = await handleCommand(counted, jobAggregate, 'j1', { kind: 'complete', eventId: 'j1', eventStatus: 'N', eventDesc: 'late' }, meta)
  t.same(second.appended, [], 'a second completion appends nothing')
  t.same(second.state!.status, { eventStatus: 'Y', eventDesc: '' }, 'the first one stays')
  t.same(looks, ['jobs.requested.j1', 'jobs.requested.j1', 'jobs.status.u1.j1'], 'its append was refused, then it read everything')
  t.equal(await count(store.jsm, 'jobs.status.>'), 1)
  looks.length = 0
  t.same((await handleCommand(counted, jobAggregate, 'j1', { kind: 'timeOut', eventId: 'j1' }, meta)).appended, [], 'a timeout decided on the request alone would append elsewhere: it reads the status first')
  t.same(looks, ['jobs.requested.j1', 'jobs.requested.j1', 'jobs.status.u1.j1'])
  await t.rejects(handleCommand(counted, jobAggregate, 'nope', { kind: 'complete', eventId: 'nope', eventStatus: 'Y', eventDesc: '' }, meta), { name: 'JobNotFound' }, 'no request: refused')
})
