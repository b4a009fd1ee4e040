import t from 'tap'
import { decide, evolve, type MeetingState } from '../../src/domain/meeting.js'
import type { StoredEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'

// given events -> when a command -> then the event decided (no NATS, no SQLite)
let seq = 0
const stored = (def: { type: string, version: number }, data: object): StoredEvent => ({ seq: ++seq, natsSubject: 'meetings.m1', id: `e${seq}`, type: def.type, version: def.version, source: 't', time: '', data })
const given = (...events: StoredEvent[]): MeetingState => events.reduce<MeetingState | undefined>(evolve, undefined)!
const scheduled = () => stored(Events.meetingScheduled, {
  meetingId: 'm1',
  title: 'T',
  startsAt: '2030-01-01T10:00:00.000Z',
  endsAt: '2030-01-01T11:00:00.000Z',
  location: 'L',
  description: '',
  organizer: { userId: 'o', email: 'o@example.com' },
  participants: [{ email: 'a@example.com' }, { email: 'b@example.com' }]
})

t.test('update: times move -> rescheduled, keeping the length when only the start moves', async t => {
  const d = decide({ kind: 'update', startsAt: '2030-01-02T10:00:00.000Z' }, given(scheduled()))
  t.same(d, { def: Events.meetingRescheduled, data: { meetingId: 'm1', startsAt: '2030-01-02T10:00:00.000Z', endsAt: '2030-01-02T11:00:00.000Z' } })
})

t.test('update: only the title -> updated; nothing new -> no event; end before start -> 400', async t => {
  const state = given(scheduled())
  t.same(decide({ kind: 'update', title: 'New' }, state), { def: Events.meetingUpdated, data: { meetingId: 'm1', title: 'New' } })
  t.equal(decide({ kind: 'update', title: 'T', location: 'L' }, state), undefined)
  t.throws(() => decide({ kind: 'update', endsAt: '2030-01-01T09:00:00.000Z' }, state), { code: 'JETWAY_VALIDATION' })
})

t.test('participants: adding known ones is nothing; removing the last is refused; removing a stranger is 404', async t => {
  const state = given(scheduled())
  t.equal(decide({ kind: 'addParticipants', participants: [{ email: 'A@example.com' }] }, state), undefined)
  t.same(decide({ kind: 'addParticipants', participants: [{ email: 'c@example.com' }, { email: 'C@example.com' }] }, state),
    { def: Events.participantAdded, data: { meetingId: 'm1', participants: [{ email: 'c@example.com' }] } })
  t.throws(() => decide({ kind: 'removeParticipant', email: 'z@example.com' }, state), { code: 'JETWAY_NOT_FOUND' })
  const alone = given(scheduled(), stored(Events.participantRemoved, { meetingId: 'm1', email: 'a@example.com' }))
  t.same(alone.participants, [{ email: 'b@example.com' }])
  t.throws(() => decide({ kind: 'removeParticipant', email: 'b@example.com' }, alone), { code: 'JETWAY_CONFLICT' })
})

t.test('evolve counts SEQUENCE and the version; a cancelled meeting refuses every command', async t => {
  const state = given(scheduled(), stored(Events.meetingUpdated, { meetingId: 'm1', title: 'X' }), stored(Events.meetingCancelled, { meetingId: 'm1' }))
  t.match(state, { title: 'X', cancelled: true, sequence: 2, version: seq })
  t.throws(() => decide({ kind: 'update', title: 'Y' }, state), { code: 'JETWAY_CONFLICT' })
})
