import t from 'tap'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { until } from '../fixtures/wait.js'
import { rebuildProjection } from '../../src/projections/rebuild.js'
import { Subjects } from '../../src/store/subjects.js'

// KEEP_FINISHED: a finished job, task, deleted schedule, past (or cancelled) meeting, /async
// request and /sync call is removed from its stream (purge by subject) and from the read
// models that long after it finished, by a durable timer; what still lives stays.

const ENV = { KEEP_FINISHED: '1s', TIMER_TICK: '50ms', RELAY_ALLOW: '127.0.0.0/8', OUTBOUND_TIMEOUT: '2s', JOB_SIMULATOR: 'off' }
const organizer = { userId: 'org', email: 'org@example.com' }
const hoursFromNow = (h: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 + h * 3_600_000).toISOString()

async function status (svc: Service, url: string): Promise<number> {
  return (await svc.app.inject({ url })).statusCode
}

t.test('KEEP_FINISHED removes what finished from streams and read models; what lives stays', async t => {
  const target = await httpTarget(t)
  const svc = await startService(t, { env: ENV })
  const { app, runtime } = svc
  // a second instance on the same streams: the expiries fire once between them, and its read models follow too
  const other = await startService(t, { natsUrl: svc.natsUrl, env: ENV })

  // jobs: one completed, one still waiting
  const doneJob = (await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'u1' })).json().eventId as string
  const liveJob = (await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'u1' })).json().eventId as string
  t.equal((await post(app, `/noti/complete/${doneJob}`, { eventStatus: 'Y' })).statusCode, 200)
  // tasks: one succeeded, one waiting; schedules: one deleted, one live
  const doneTask = (await post(app, '/api/tasks', { type: 'approval', owner: 'ops', input: {} })).json()
  const liveTask = (await post(app, '/api/tasks', { type: 'approval', owner: 'ops', input: {} })).json()
  t.equal((await post(app, '/api/tasks/success', { taskToken: doneTask.taskToken, output: 1 })).statusCode, 200)
  const schedule = { cron: '0 0 1 1 *', task: { type: 'yearly' }, owner: 'ops' }
  const goneSchedule = (await post(app, '/api/schedules', { ...schedule, name: 'gone' })).json().scheduleId as string
  const liveSchedule = (await post(app, '/api/schedules', { ...schedule, name: 'kept' })).json().scheduleId as string
  t.equal((await app.inject({ method: 'DELETE', url: `/api/schedules/${goneSchedule}` })).statusCode, 200)
  // meetings: one past, one cancelled, one ahead
  const meeting = (startsAt: string, endsAt: string) => ({ title: 'M', startsAt, endsAt, location: 'Room 7', description: '', participants: [{ email: 'ann@example.com' }], organizer })
  const pastMeeting = (await post(app, '/api/meetings', meeting(hoursFromNow(-2), hoursFromNow(-1)))).json().id as string
  const cancelled = (await post(app, '/api/meetings', meeting(hoursFromNow(24), hoursFromNow(25)))).json().id as string
  const ahead = (await post(app, '/api/meetings', meeting(hoursFromNow(24), hoursFromNow(25)))).json().id as string
  t.equal((await post(app, `/api/meetings/${cancelled}/cancel`, {})).statusCode, 200)
  // relay: an /async request delivered (no callback), a /sync call answered
  const asyncId = (await post(app, '/async', { targetURL: target.origin, targetAPI: '/a', headers: {}, body: { n: 1 } })).json().requestId as string
  const sync = await post(app, '/sync', { targetURL: target.origin, targetAPI: '/s', headers: {}, body: {} })
  const syncId = sync.headers['jetway-request-id'] as string
  t.ok(syncId, 'the /sync call has an id')

  const gone: Array<[string, string, string]> = [
    ['JOBS', `jobs.*.${doneJob}`, `/noti/jobs/${doneJob}`],
    ['JOBS', `jobs.status.*.${doneJob}`, `/noti/jobs/${doneJob}`],
    ['TASKS', `tasks.${doneTask.taskId as string}`, `/api/tasks/${doneTask.taskId as string}`],
    ['TASKS', `schedules.${goneSchedule}`, `/api/schedules/${goneSchedule}`],
    ['MEETINGS', `meetings.${pastMeeting}`, `/api/meetings/${pastMeeting}`],
    ['MEETINGS', `meetings.${cancelled}`, `/api/meetings/${cancelled}`],
    ['RELAY', `relay.requests.${asyncId}`, `/async/${asyncId}`],
    ['RELAY', `relay.sync.${syncId}`, `/async/${syncId}`]
  ]
  for (const [stream, subject, url] of gone) {
    await until(`${subject} purged from ${stream} and gone from its read model`, async () =>
      await countOn(runtime, stream, subject) === 0 && await status(svc, url) === 404 ? true : undefined)
    t.pass(`${subject}: gone from ${stream} and ${url} is 404`)
  }
  await until('the /sync call gone from the read model', async () =>
    await runtime.db.selectFrom('relay_requests').select('request_id').where('request_id', '=', syncId).executeTakeFirst() === undefined ? true : undefined)

  const kept: Array<[string, string, string]> = [
    ['JOBS', `jobs.requested.${liveJob}`, `/noti/jobs/${liveJob}`],
    ['TASKS', `tasks.${liveTask.taskId as string}`, `/api/tasks/${liveTask.taskId as string}`],
    ['TASKS', `schedules.${liveSchedule}`, `/api/schedules/${liveSchedule}`],
    ['MEETINGS', `meetings.${ahead}`, `/api/meetings/${ahead}`]
  ]
  for (const [stream, subject, url] of kept) {
    t.equal(await countOn(runtime, stream, subject), 1, `${subject} is still in ${stream}`)
    t.equal(await status(svc, url), 200, `${url} still answers`)
  }
  // the expiry's timer.fired stays as the record of what was removed: one per thing, whatever the instances
  t.equal(await countOn(runtime, 'JOBS', Subjects.timerFirings('JOBS', `expiry:job:${doneJob}`)), 1, 'the job\'s expiry fired once across two instances')
  t.equal(await countOn(runtime, 'MEETINGS', Subjects.timerFirings('MEETINGS', `expiry:meeting:${pastMeeting}`)), 1, 'so did the meeting\'s')
  await until('the other instance\'s read models followed', async () => {
    for (const [, , url] of gone) if (await status(other, url) !== 404) return undefined
    return true
  })
  for (const [, , url] of kept) t.equal(await status(other, url), 200, `the other instance: ${url} still answers`)

  // a rebuild and a start with an empty DATA_DIR bring none of it back
  await rebuildProjection(runtime, 'jobs', () => {})
  await rebuildProjection(runtime, 'tasks', () => {})
  t.equal(await status(svc, `/noti/jobs/${doneJob}`), 404)
  t.equal(await status(svc, `/noti/jobs/${liveJob}`), 200)
  t.equal(await status(svc, `/api/tasks/${doneTask.taskId as string}`), 404)
  const fresh = await startService(t, { natsUrl: svc.natsUrl, env: ENV })
  await fresh.runtime.readModels.waitFor('meetings', await fresh.runtime.readModels.streamEnd('MEETINGS'), 10_000)
  await fresh.runtime.readModels.waitFor('relay', await fresh.runtime.readModels.streamEnd('RELAY'), 10_000)
  for (const [, , url] of gone) t.equal(await status(fresh, url), 404, `${url}: 404 after a full replay`)
  for (const [, , url] of kept) t.equal(await status(fresh, url), 200, `${url}: 200 after a full replay`)
})

t.test('a task with a callback is removed only once its callback is settled', async t => {
  let answer = 503
  const receiver = await httpTarget(t, (_req, res) => { res.statusCode = answer; res.end() })
  const svc = await startService(t, { env: { ...ENV, WORKER_BACKOFF: '100ms' } })
  const task = (await post(svc.app, '/api/tasks', { type: 'approval', owner: 'ops', input: {}, callbackUrl: `${receiver.origin}/cb` })).json()
  t.equal((await post(svc.app, '/api/tasks/success', { taskToken: task.taskToken, output: 1 })).statusCode, 200)
  // the expiry armed at the outcome fires (KEEP_FINISHED 1s) while the callback still fails: the task stays
  await until('a failed callback attempt and the first expiry fired', async () => {
    const fired = await countOn(svc.runtime, 'TASKS', `timer.tasks.expiry:task:${task.taskId as string}.*`)
    return receiver.received.length >= 1 && fired >= 1 ? true : undefined
  })
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${task.taskId as string}`), 2, 'kept while its callback is pending')
  answer = 200
  await until('the task removed once its callback was delivered', async () =>
    await countOn(svc.runtime, 'TASKS', `tasks.${task.taskId as string}`) === 0 && await status(svc, `/api/tasks/${task.taskId as string}`) === 404 ? true : undefined)
  t.ok(receiver.received.some(() => true), 'the callback was delivered before')
})
