import t from 'tap'
import { decide, evolve, type MeetingState } from '../../src/domain/meeting.js'
import type { StoredEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import type { MeetingScheduled } from '../../src/schema/events/meetings.js'

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
  const d = decide(given(scheduled()), { kind: 'update', startsAt: '2030-01-02T10:00:00.000Z' })
  t.same(d, [{ def: Events.meetingRescheduled, data: { meetingId: 'm1', startsAt: '2030-01-02T10:00:00.000Z', endsAt: '2030-01-02T11:00:00.000Z' } }])
})

t.test('update: only the title -> updated; nothing new -> no event; end before start -> 400', async t => {
  const state = given(scheduled())
  t.same(decide(state, { kind: 'update', title: 'New' }), [{ def: Events.meetingUpdated, data: { meetingId: 'm1', title: 'New' } }])
  t.same(decide(state, { kind: 'update', title: 'T', location: 'L' }), [])
  t.throws(() => decide(state, { kind: 'update', endsAt: '2030-01-01T09:00:00.000Z' }), { code: 'JETWAY_VALIDATION' })
})

t.test('participants: adding known ones is nothing; removing the last is refused; removing a stranger is 404', async t => {
  const state = given(scheduled())
  t.same(decide(state, { kind: 'addParticipants', participants: [{ email: 'A@example.com' }] }), [])
  t.same(decide(state, { kind: 'addParticipants', participants: [{ email: 'c@example.com' }, { email: 'C@example.com' }] }),
    [{ def: Events.participantAdded, data: { meetingId: 'm1', participants: [{ email: 'c@example.com' }] } }])
  t.throws(() => decide(state, { kind: 'removeParticipant', email: 'z@example.com' }), { code: 'JETWAY_NOT_FOUND' })
  const alone = given(scheduled(), stored(Events.participantRemoved, { meetingId: 'm1', email: 'a@example.com' }))
  t.same(alone.participants, [{ email: 'b@example.com' }])
  t.throws(() => decide(alone, { kind: 'removeParticipant', email: 'b@example.com' }), { code: 'JETWAY_CONFLICT' })
})

t.test('evolve counts SEQUENCE and the version; a cancelled meeting refuses every command', async t => {
  const state = given(scheduled(), stored(Events.meetingUpdated, { meetingId: 'm1', title: 'X' }), stored(Events.meetingCancelled, { meetingId: 'm1' }))
  t.match(state, { title: 'X', cancelled: true, sequence: 2, version: seq })
  t.throws(() => decide(state, { kind: 'update', title: 'Y' }), { code: 'JETWAY_CONFLICT' })
})

t.test('schedule: a new meeting -> scheduled with participants folded; an existing one -> nothing (idempotent retry)', async t => {
  const data = { ...scheduled().data as MeetingScheduled, participants: [{ email: 'a@example.com' }, { email: 'A@example.com' }] }
  t.same(decide(undefined, { kind: 'schedule', data }), [{ def: Events.meetingScheduled, data: { ...data, participants: [{ email: 'a@example.com' }] } }])
  t.same(decide(given(scheduled()), { kind: 'schedule', data }), [])
})

t.test('a command on a meeting that does not exist is 404', async t => {
  t.throws(() => decide(undefined, { kind: 'cancel' }), { code: 'JETWAY_NOT_FOUND' })
})

t.test('end after start: checked here for every command that sets times, schedule and update alike', async t => {
  const data = scheduled().data as MeetingScheduled
  for (const endsAt of ['2030-01-01T10:00:00.000Z', '2030-01-01T09:59:59.999Z']) {
    t.throws(() => decide(undefined, { kind: 'schedule', data: { ...data, endsAt } }), { code: 'JETWAY_VALIDATION', errors: [{ field: 'endsAt', message: 'must be after startsAt' }] })
    t.throws(() => decide(given(scheduled()), { kind: 'update', startsAt: '2030-01-01T10:00:00.000Z', endsAt }), { code: 'JETWAY_VALIDATION', errors: [{ field: 'endsAt' }] })
  }
  t.throws(() => decide(given(scheduled()), { kind: 'update', endsAt: '2030-01-01T10:00:00.000Z' }), { code: 'JETWAY_VALIDATION' }, 'a new end alone, at the start')
  t.match(decide(given(scheduled()), { kind: 'update', startsAt: '2030-01-01T11:00:00.000Z' }), [{ def: Events.meetingRescheduled }], 'a new start alone keeps the length')
})
