import t from 'tap'
import { decide, evolve, newTask, TaskClosed, TaskNotFound, type TaskState } from '../../src/domain/task.js'
import { decide as decideSchedule, evolve as evolveSchedule, planTick, taskIdOfTick, type ScheduleState } from '../../src/domain/schedule.js'
import type { StoredEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'

// given events -> when a command -> then the events decided (no NATS, no SQLite, no clock)
let seq = 0
const stored = (def: { type: string, version: number }, data: object, time = '2030-01-01T00:00:00.000Z'): StoredEvent =>
  ({ seq: ++seq, natsSubject: 'tasks.t1', id: `e${seq}`, type: def.type, version: def.version, source: 't', time, data })
const created = (extra: object = {}) => stored(Events.taskCreated, { ...newTask('t1', 'ops', { type: 'x', timeoutSeconds: 60, heartbeatSeconds: 10, ...extra }, new Date('2030-01-01T00:00:00.000Z'), 3600_000) })
const given = (...events: StoredEvent[]): TaskState => events.reduce<TaskState | undefined>(evolve, undefined)!
const at = (seconds: number) => new Date(Date.parse('2030-01-01T00:00:00.000Z') + seconds * 1000)
const by = { via: 'token' as const }

t.test('a waiting task: success, failure and heartbeat before the deadlines', async t => {
  const state = given(created())
  t.match(state, { status: 'WAITING', deadline: '2030-01-01T00:01:00.000Z', heartbeatDeadline: '2030-01-01T00:00:10.000Z', approvers: [] })
  t.same(decide(state, { kind: 'succeed', at: at(5), output: { ok: 1 }, by }), [{ def: Events.taskSucceeded, data: { taskId: 't1', owner: 'ops', output: { ok: 1 }, decidedBy: by } }])
  t.same(decide(state, { kind: 'fail', at: at(5), error: 'E', by }), [{ def: Events.taskFailed, data: { taskId: 't1', owner: 'ops', error: 'E', decidedBy: by } }])
  t.same(decide(state, { kind: 'heartbeat', at: at(9) }), [{ def: Events.taskHeartbeatReceived, data: { taskId: 't1', owner: 'ops', heartbeatDeadline: '2030-01-01T00:00:19.000Z' } }])
  t.same(decide(state, { kind: 'expire', at: at(9) }), [], 'a timer before any deadline: nothing')
})

t.test('deadlines: the hard cap whatever the heartbeats; the heartbeat window moved by each heartbeat', async t => {
  const beat = (s: number) => stored(Events.taskHeartbeatReceived, { taskId: 't1', owner: 'ops', heartbeatDeadline: at(s + 10).toISOString() }, at(s).toISOString())
  const alive = given(created(), beat(8), beat(16))
  t.same(decide(alive, { kind: 'expire', at: at(11) }), [], 'the first heartbeat window moved: the old timer changes nothing')
  t.match(decide(alive, { kind: 'expire', at: at(26) }), [{ def: Events.taskTimedOut, data: { error: 'States.HeartbeatTimeout' } }])
  const beating = given(created(), ...[8, 16, 24, 32, 40, 48, 56].map(beat))
  t.match(decide(beating, { kind: 'expire', at: at(60) }), [{ def: Events.taskTimedOut, data: { error: 'States.Timeout' } }], 'heartbeats never pass timeoutSeconds')
  t.match(decide(beating, { kind: 'succeed', at: at(61), output: 1, by }), [{ def: Events.taskTimedOut, data: { error: 'States.Timeout' } }], 'a completion after the deadline times the task out instead')
  t.match(decide(given(created({ heartbeatSeconds: undefined })), { kind: 'heartbeat', at: at(3) }), [{ data: { taskId: 't1' } }], 'no heartbeatSeconds: a heartbeat is recorded, no window')
})

t.test('closed or absent tasks: TaskTimedOut / TaskDoesNotExist; timers find nothing to do', async t => {
  const done = given(created(), stored(Events.taskSucceeded, { taskId: 't1', owner: 'ops', output: null, decidedBy: by }))
  t.equal(done.status, 'SUCCEEDED')
  t.throws(() => decide(done, { kind: 'succeed', at: at(1), output: 1, by }), TaskClosed)
  t.throws(() => decide(done, { kind: 'heartbeat', at: at(1) }), TaskClosed)
  t.same(decide(done, { kind: 'expire', at: at(100) }), [])
  t.throws(() => decide(undefined, { kind: 'fail', at: at(1), by }), TaskNotFound)
  t.same(decide(undefined, { kind: 'expire', at: at(1) }), [])
  t.same(decide(done, { kind: 'create', data: newTask('t1', 'ops', { type: 'x' }, at(0), 1000) }), [], 'creating it again: nothing')
})

const schedule = (nextTick: string): ScheduleState => [stored(Events.scheduleCreated, {
  scheduleId: 's1', owner: 'ops', name: 'n', cron: '*/2 * * * * *', timezone: 'UTC', task: { type: 'x' }, nextTick
})].reduce<ScheduleState | undefined>(evolveSchedule, undefined)!

t.test('schedule ticks: fired within the grace, skipped after it, the next one after now; stale timers do nothing', async t => {
  const s = schedule('2030-01-01T00:00:02.000Z')
  t.equal(planTick(s, '2030-01-01T00:00:02.000Z', at(2.3), 30_000), 'fire')
  t.equal(planTick(s, '2030-01-01T00:00:02.000Z', at(40), 30_000), 'skip', 'found 38 s late: no instance ran at its time')
  t.equal(planTick(s, '2030-01-01T00:00:04.000Z', at(4), 30_000), 'stale', 'not the armed tick')
  const taskId = taskIdOfTick('s1', '2030-01-01T00:00:02.000Z')
  t.equal(taskId, taskIdOfTick('s1', '2030-01-01T00:00:02Z'), 'the same tick, however written')
  t.not(taskId, taskIdOfTick('s1', '2030-01-01T00:00:04.000Z'))
  t.same(decideSchedule(s, { kind: 'tick', tick: '2030-01-01T00:00:02.000Z', at: at(2.3), taskId }), [{
    def: Events.scheduleTicked, data: { scheduleId: 's1', tick: '2030-01-01T00:00:02.000Z', taskId, skipped: false, nextTick: '2030-01-01T00:00:04.000Z' }
  }])
  t.same(decideSchedule(s, { kind: 'tick', tick: '2030-01-01T00:00:02.000Z', at: at(40) }), [{
    def: Events.scheduleTicked, data: { scheduleId: 's1', tick: '2030-01-01T00:00:02.000Z', skipped: true, nextTick: '2030-01-01T00:00:42.000Z' }
  }], 'skipped, and the ticks missed meanwhile are not fired late either')
  const deleted = evolveSchedule(s, stored(Events.scheduleDeleted, { scheduleId: 's1' }))!
  t.same(decideSchedule(deleted, { kind: 'tick', tick: '2030-01-01T00:00:02.000Z', at: at(2), taskId }), [])
  t.same(decideSchedule(deleted, { kind: 'delete' }), [])
})
