import t from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, countOn } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { walkSubject } from '../../src/store/subject-reader.js'
import { decodeEvent } from '../../src/store/events.js'
import { Subjects } from '../../src/store/subjects.js'
import { taskIdOfTick } from '../../src/domain/schedule.js'
import type { ScheduleTicked } from '../../src/schema/events/tasks.js'
import type { Runtime } from '../../src/runtime.js'

// Schedules: each tick creates one task from the template, exactly once across instances.

async function ticksOf (runtime: Runtime, scheduleId: string): Promise<ScheduleTicked[]> {
  const out: ScheduleTicked[] = []
  for await (const m of walkSubject(runtime.jsm, 'TASKS', Subjects.schedule(scheduleId))) {
    const ev = decodeEvent(m)
    if (ev.type === 'schedule.ticked') out.push(ev.data as ScheduleTicked)
  }
  return out
}

t.test('a schedule at */2 * * * * * creates one task per tick with two instances running', async t => {
  const natsUrl = await natsServer(t)
  const env = { TIMER_TICK: '50ms' }
  const one = await startService(t, { natsUrl, env })
  const two = await startService(t, { natsUrl, env })
  const created = await post(one.app, '/api/schedules', {
    name: 'every other second',
    cron: '*/2 * * * * *',
    timezone: 'Europe/Berlin',
    owner: 'ops',
    task: { type: 'nightly-report', title: 'Check the report', input: { report: 'sales' }, timeoutSeconds: 3600 }
  })
  t.equal(created.statusCode, 201)
  const s = created.json()
  t.match(s, { name: 'every other second', cron: '*/2 * * * * *', timezone: 'Europe/Berlin', deleted: false, lastTick: null })
  t.equal(s.nextTicks.length, 5)
  t.same(s.nextTicks.map((x: string) => Date.parse(x) % 2000), [0, 0, 0, 0, 0], 'even seconds')
  t.ok(s.nextTicks.every((x: string, i: number) => i === 0 || Date.parse(x) - Date.parse(s.nextTicks[i - 1]) === 2000))

  const ticks = await until('three ticks fired', async () => {
    const all = await ticksOf(one.runtime, s.scheduleId)
    return all.filter(x => !x.skipped).length >= 3 ? all : undefined
  })
  const fired = ticks.filter(x => !x.skipped)
  t.same(new Set(ticks.map(x => x.tick)).size, ticks.length, 'each tick once')
  for (const tick of fired) t.equal(tick.taskId, taskIdOfTick(s.scheduleId, tick.tick), 'the task id derives from schedule and tick')
  t.equal(fired[0]!.tick, s.nextTicks[0], 'the first tick is the one announced')

  // every fired tick made exactly one task, whichever instance fired it
  const del = await one.app.inject({ method: 'DELETE', url: `/api/schedules/${s.scheduleId as string}` })
  t.equal(del.statusCode, 200)
  t.match(del.json(), { deleted: true, nextTicks: [] })
  const final = await ticksOf(one.runtime, s.scheduleId)
  const made = final.filter(x => !x.skipped).map(x => x.taskId!)
  t.equal(await countOn(one.runtime, 'TASKS', 'tasks.*'), made.length, 'one task.created per fired tick, none more')
  const seq = (await one.runtime.jsm.streams.info('TASKS')).state.last_seq
  for (const svc of [one, two]) {
    const list = (await svc.app.inject({ url: `/api/tasks?limit=100&min_seq=${seq}` })).json()
    t.same(list.items.map((i: { taskId: string }) => i.taskId).sort(), [...made].sort(), 'both read models hold the same tasks')
    t.match(list.items[0], { type: 'nightly-report', title: 'Check the report', input: { report: 'sales' }, owner: 'ops', schedule: { scheduleId: s.scheduleId }, status: 'WAITING' })
    const timers = await svc.runtime.db.selectFrom('timers').selectAll().where('group_key', '=', `schedule:${s.scheduleId as string}`).execute()
    t.same(timers, [], 'no tick armed after the delete')
    const got = (await svc.app.inject({ url: `/api/schedules/${s.scheduleId as string}?min_seq=${seq}` })).json()
    t.match(got, { deleted: true, nextTicks: [], lastTaskId: made.at(-1) })
  }
  t.equal((await one.app.inject({ url: '/api/schedules' })).json().items.length, 0, 'a deleted schedule is not listed')
})

t.test('schedule input: a bad pattern or time zone is a 400 naming the field; heartbeat rule of the template', async t => {
  const svc = await startService(t)
  const base = { name: 'n', timezone: 'UTC', owner: 'ops', task: { type: 'x' } }
  const cron7 = await post(svc.app, '/api/schedules', { ...base, cron: '* * * * * * *' })
  t.equal(cron7.statusCode, 400)
  t.match(cron7.json().errors, [{ field: 'cron' }])
  const bad = await post(svc.app, '/api/schedules', { ...base, cron: 'every day' })
  t.match(bad.json().errors, [{ field: 'cron' }])
  const tz = await post(svc.app, '/api/schedules', { ...base, cron: '0 9 * * 1-5', timezone: 'Mars/Olympus' })
  t.equal(tz.statusCode, 400)
  t.match(tz.json().errors, [{ field: 'timezone' }])
  const hb = await post(svc.app, '/api/schedules', { ...base, cron: '0 9 * * 1-5', task: { type: 'x', timeoutSeconds: 5, heartbeatSeconds: 9 } })
  t.match(hb.json().errors, [{ field: 'task.heartbeatSeconds' }])
  const ok = await post(svc.app, '/api/schedules', { ...base, cron: '0 9 * * 1-5', timezone: 'Asia/Seoul' })
  t.equal(ok.statusCode, 201)
  t.ok(ok.json().nextTicks.every((x: string) => new Date(x).getUTCHours() === 0), '09:00 in Seoul is 00:00 UTC')
  const list = await svc.app.inject({ url: `/api/schedules?min_seq=${ok.headers['jetway-seq'] as string}` })
  t.same(list.json().items.map((i: { scheduleId: string }) => i.scheduleId), [ok.json().scheduleId])
  t.equal((await svc.app.inject({ method: 'DELETE', url: '/api/schedules/nope' })).statusCode, 404)
})

t.test('a tick missed while no instance ran is skipped, not fired late, and no burst follows', async t => {
  const natsUrl = await natsServer(t)
  const env = { TIMER_TICK: '50ms', SCHEDULE_GRACE: '1500ms' }
  const first = await startService(t, { natsUrl, env })
  const s = (await post(first.app, '/api/schedules', { name: 'n', cron: '* * * * * *', timezone: 'UTC', owner: 'ops', task: { type: 'x' } })).json()
  // stop every instance before the first tick, and stay away past it and its grace
  await first.close()
  const missed = Date.parse(s.nextTicks[0])
  while (Date.now() < missed + 3500) await new Promise(resolve => setTimeout(resolve, 100))
  const back = await startService(t, { natsUrl, env, dataDir: first.dataDir })
  // then it ticks again (within the grace)
  const ticks = await until('a tick fired after the restart', async () => {
    const all = await ticksOf(back.runtime, s.scheduleId)
    return all.some(x => !x.skipped) ? all : undefined
  })
  t.match(ticks[0], { tick: s.nextTicks[0], skipped: true }, 'the missed tick is recorded as skipped')
  t.equal(ticks[0]!.taskId, undefined, 'and made no task')
  t.ok(Date.parse(ticks[0]!.nextTick!) > missed + 3500, 'the next tick is after the restart: the ticks missed meanwhile are not fired late')
  t.equal(await countOn(back.runtime, 'TASKS', 'tasks.*'), ticks.filter(x => !x.skipped).length, 'tasks only for the ticks fired')
})
