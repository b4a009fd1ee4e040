import t from 'tap'
import { decide, evolve, jobAggregate, JobNotFound, type JobState } from '../../src/domain/job.js'
import type { StoredEvent } from '../../src/store/events.js'
import { Events, decision } from '../../src/schema/events/index.js'

// given events -> when a command -> then the event decided (no NATS, no SQLite, no clock)
let seq = 0
const stored = (def: { type: string, version: number }, data: object, extra: Partial<StoredEvent> = {}): StoredEvent =>
  ({ seq: ++seq, natsSubject: 'jobs.x', id: `e${seq}`, type: def.type, version: def.version, source: 't', time: '2030-01-01T00:00:00.000Z', data, ...extra })
const given = (...events: StoredEvent[]): JobState | undefined => events.reduce<JobState | undefined>(evolve, undefined)
const at = new Date('2030-01-01T00:00:00.000Z')
const requested = () => stored(Events.jobRequested, {
  eventId: 'j1', eventType: 'TRAINING', userId: 'u1', requestedAt: at.toISOString(), deadline: '2030-01-01T00:05:00.000Z'
}, { correlationId: 'req-1' })
const status = (eventStatus: 'Y' | 'N', eventDesc = '') => stored(Events.jobStatusChanged, { eventId: 'j1', eventStatus, eventDesc, eventType: 'TRAINING', userId: 'u1' })

t.test('request: the deadline is timeoutSeconds after it, else the default; a known job is requested once', async t => {
  const request = { kind: 'request' as const, eventId: 'j1', eventType: 'TRAINING' as const, userId: 'u1', at, defaultTimeoutMs: 86_400_000 }
  t.same(decide(undefined, { ...request, timeoutSeconds: 0.3 }), [decision(Events.jobRequested, {
    eventId: 'j1', eventType: 'TRAINING', userId: 'u1', requestedAt: '2030-01-01T00:00:00.000Z', deadline: '2030-01-01T00:00:00.300Z'
  })])
  t.match(decide(undefined, request), [{ def: Events.jobRequested, data: { deadline: '2030-01-02T00:00:00.000Z' } }], 'JOB_TIMEOUT by default')
  t.same(decide(given(requested()), request), [], 'an Idempotency-Key retry: nothing')
})

t.test('complete: the first completion is the status; any later one changes nothing; an unknown job is JobNotFound', async t => {
  const waiting = given(requested())
  t.match(waiting, { eventId: 'j1', userId: 'u1', correlationId: 'req-1' })
  t.equal(waiting!.status, undefined)
  t.same(decide(waiting, { kind: 'complete', eventId: 'j1', eventStatus: 'N', eventDesc: 'OOM' }), [decision(Events.jobStatusChanged, {
    eventId: 'j1', eventStatus: 'N', eventDesc: 'OOM', eventType: 'TRAINING', userId: 'u1'
  })], 'the seed\'s pub/sub message')
  const done = given(requested(), status('Y'))
  t.same(done!.status, { eventStatus: 'Y', eventDesc: '' })
  t.same(decide(done, { kind: 'complete', eventId: 'j1', eventStatus: 'N', eventDesc: 'late' }), [], 'first completion wins')
  t.same(given(requested(), status('Y'), status('N', 'second'))!.status, { eventStatus: 'Y', eventDesc: '' }, 'a second status, if ever stored, is not the job\'s')
  t.throws(() => decide(undefined, { kind: 'complete', eventId: 'j9', eventStatus: 'Y', eventDesc: '' }), new JobNotFound('j9'))
  t.throws(() => decide(undefined, { kind: 'complete', eventId: 'j9', eventStatus: 'Y', eventDesc: '' }), { code: 'JETWAY_NOT_FOUND', message: 'no job.requested for eventId j9' })
})

t.test('timeOut: a failed completion naming the wait, unless the job has its status (or is not there)', async t => {
  t.same(decide(given(requested()), { kind: 'timeOut', eventId: 'j1' }), [decision(Events.jobCompleted, {
    eventId: 'j1', eventStatus: 'N', eventDesc: 'timed out: no completion within 5m', origin: 'timeout'
  })])
  t.same(decide(given(requested(), status('Y')), { kind: 'timeOut', eventId: 'j1' }), [])
  t.same(decide(undefined, { kind: 'timeOut', eventId: 'j1' }), [])
})

t.test('its events stay on the JOBS subjects SSE, the read model and operators know', async t => {
  const state = given(requested())!
  t.equal(jobAggregate.subject('j1'), 'jobs.requested.j1')
  t.same(jobAggregate.moreSubjects!('j.1', undefined), [], 'no request: no status subject to read')
  t.same(jobAggregate.moreSubjects!('j.1', { ...state, userId: 'a b' }), ['jobs.status.a%20b.j%2E1'])
  const [req] = decide(undefined, { kind: 'request', eventId: 'j.1', eventType: 'TEST', userId: 'u1', at, defaultTimeoutMs: 1000 })
  const [st] = decide(state, { kind: 'complete', eventId: 'j1', eventStatus: 'Y', eventDesc: '' })
  const [timeout] = decide(state, { kind: 'timeOut', eventId: 'j1' })
  t.equal(jobAggregate.subjectOf!('j.1', req!, undefined), 'jobs.requested.j%2E1')
  t.equal(jobAggregate.subjectOf!('j1', st!, state), 'jobs.status.u1.j1')
  t.equal(jobAggregate.subjectOf!('j1', timeout!, state), 'jobs.completed.j1')
  t.equal(jobAggregate.correlationOf!(state), 'req-1', 'its later events carry the request\'s correlation id')
})
