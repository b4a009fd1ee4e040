import t from 'tap'
import { expiryChangesOf, expiredBy } from '../../src/projections/expiry.js'
import { Events, type EventDefinition, type EventData } from '../../src/schema/events/index.js'
import type { StoredEvent } from '../../src/store/events.js'

// KEEP_FINISHED's rules, pure: which event finishes what, and when its expiry is due.

const KEEP = 60_000
const AT = '2030-01-01T00:00:00.000Z'
let seq = 0
function ev<D extends EventDefinition> (def: D, data: EventData<D>, time = AT): StoredEvent {
  return { seq: ++seq, natsSubject: 'x', id: `id${seq}`, type: def.type, version: def.version, source: '/t', time, data }
}
const due = (at: string, ms = KEEP): number => Date.parse(at) + ms

t.test('what finishes arms an expiry KEEP_FINISHED later; what does not, nothing', async t => {
  const job = expiryChangesOf(ev(Events.jobStatusChanged, { eventId: 'j1', eventStatus: 'Y', eventDesc: '', eventType: 'TEST', userId: 'u' }), KEEP)
  t.same(job, [{ set: { timerId: 'expiry:job:j1', kind: 'expiry', dueAt: due(AT), payload: { aggregate: 'job', id: 'j1' }, group: 'expiry:job:j1' } }])
  t.same(expiryChangesOf(ev(Events.jobRequested, { eventId: 'j1', eventType: 'TEST', userId: 'u', requestedAt: AT, deadline: AT }), KEEP), [], 'a requested job lives')

  const decidedBy = { via: 'token' as const }
  const plain = expiryChangesOf(ev(Events.taskSucceeded, { taskId: 't1', owner: 'o', output: 1, decidedBy }), KEEP)
  t.match(plain, [{ set: { timerId: 'expiry:task:t1', payload: { aggregate: 'task', id: 't1' } } }])
  t.notOk('waitsForCallback' in (plain[0] as { set: { payload: object } }).set.payload, 'no callback: nothing to wait for')
  const withCallback = expiryChangesOf(ev(Events.taskSucceeded, { taskId: 't2', owner: 'o', output: 1, decidedBy, callbackUrl: 'https://cb.example/x' }), KEEP)
  t.match(withCallback, [{ set: { payload: { aggregate: 'task', id: 't2', waitsForCallback: true } } }], 'an outcome with a callback waits for it')
  const attempt = { taskId: 't2', webhookId: 'w', attempt: 1, url: 'https://cb.example/x' }
  t.match(expiryChangesOf(ev(Events.taskCallbackDelivered, { ...attempt, statusCode: 200 }, '2030-01-01T00:05:00.000Z'), KEEP),
    [{ set: { timerId: 'expiry:task:t2', dueAt: due('2030-01-01T00:05:00.000Z'), payload: { aggregate: 'task', id: 't2' } } }], 'its delivery re-arms, without waiting')
  t.same(expiryChangesOf(ev(Events.taskCallbackFailed, { ...attempt, error: 'e', final: false, retryAt: AT }), KEEP), [], 'a failed attempt with another to come: nothing')
  t.match(expiryChangesOf(ev(Events.taskCallbackFailed, { ...attempt, error: 'e', final: true }), KEEP), [{ set: { timerId: 'expiry:task:t2' } }], 'the last failed attempt settles it')

  const meeting = { meetingId: 'm1', title: 'M', startsAt: '2030-02-01T10:00:00.000Z', endsAt: '2030-02-01T11:00:00.000Z', location: '', description: '', organizer: { userId: 'o', email: 'o@example.com' }, participants: [{ email: 'p@example.com' }] }
  t.match(expiryChangesOf(ev(Events.meetingScheduled, meeting), KEEP), [{ set: { timerId: 'expiry:meeting:m1', dueAt: due(meeting.endsAt) } }], 'a meeting expires after it ends')
  t.match(expiryChangesOf(ev(Events.meetingCancelled, { meetingId: 'm1' }), KEEP), [{ set: { timerId: 'expiry:meeting:m1', dueAt: due(AT) } }], 'or after it was cancelled')
  t.match(expiryChangesOf(ev(Events.scheduleDeleted, { scheduleId: 's1' }), KEEP), [{ set: { timerId: 'expiry:schedule:s1' } }])
})

t.test('expiredBy reads what an expiry firing removes, and nothing else', async t => {
  const fired = ev(Events.timerFired, { timerId: 'expiry:job:j1', kind: 'expiry', dueAt: AT, setSeq: 3, payload: { aggregate: 'job', id: 'j1' } })
  t.same(expiredBy(fired), { aggregate: 'job', id: 'j1' })
  t.equal(expiredBy(ev(Events.timerFired, { timerId: 'job-timeout:j1', kind: 'job-timeout', dueAt: AT, setSeq: 3, payload: {} })), undefined, 'another kind of timer')
  t.equal(expiredBy(ev(Events.jobStatusChanged, { eventId: 'j1', eventStatus: 'Y', eventDesc: '', eventType: 'TEST', userId: 'u' })), undefined)
})
