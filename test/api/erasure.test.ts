import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { Subjects } from '../../src/store/subjects.js'

// Erasing a user (DELETE /api/users/{userId}) against a real nats-server: the user's collected
// events, jobs (and their SSE history), the meetings they organize, the tasks and schedules they
// own are purged from every stream and dropped from every instance's read models; a second
// instance, a restart with an emptied DATA_DIR and another user's data all check out. The
// erasure records no personal data. ?suppress=true refuses the user's writes until lifted.

const EVE = 'eve@example.com'
const BOB = 'bob@example.com'
const ENV = { JOB_SIMULATOR: 'off', TIMER_TICK: '50ms' }
const hoursFromNow = (h: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 + h * 3_600_000).toISOString()

async function eventsOf (app: FastifyInstance, user: string, minSeq?: string): Promise<string[]> {
  const res = await app.inject({ url: `/api/event/${encodeURIComponent(user)}?limit=1000${minSeq === undefined ? '' : `&min_seq=${minSeq}`}` })
  t.equal(res.statusCode, 200)
  return (res.json().items as { event_id: string }[]).map(i => i.event_id)
}

async function statusOf (svc: Service, url: string): Promise<number> {
  return (await svc.app.inject({ url })).statusCode
}

async function erasureDone (svc: Service, erasureId: string): Promise<any> {
  return await until(`erasure ${erasureId} done`, async () => {
    const res = await svc.app.inject({ url: `/api/erasures/${erasureId}` })
    return res.statusCode === 200 && res.json().status === 'done' ? res.json() : undefined
  })
}

t.test('an erased user is gone from every stream, every instance, every rebuild; another user keeps everything', async t => {
  const a = await startService(t, { env: ENV })
  const { app, runtime } = a
  // B runs beside A with its own DATA_DIR, before and through the erasure
  const b = await startService(t, { natsUrl: a.natsUrl, env: ENV })

  // Eve's and Bob's data in every capability
  let lastCollect = ''
  for (let i = 0; i < 5; i++) lastCollect = (await post(app, '/api/collect', { event_id: `e${i}`, event: i % 2 === 0 ? 'view' : 'buy', user_id: EVE })).headers['jetway-seq'] as string
  for (let i = 0; i < 3; i++) lastCollect = (await post(app, '/api/collect', { event_id: `b${i}`, event: 'view', user_id: BOB })).headers['jetway-seq'] as string
  const eveJobs = [(await post(app, '/noti/pub', { eventType: 'TEST', userId: EVE })).json().eventId as string, (await post(app, '/noti/pub', { eventType: 'TEST', userId: EVE })).json().eventId as string]
  const bobJob = (await post(app, '/noti/pub', { eventType: 'TEST', userId: BOB })).json().eventId as string
  t.equal((await post(app, `/noti/complete/${eveJobs[0]!}`, { eventStatus: 'Y' })).statusCode, 200)
  t.equal((await post(app, `/noti/complete/${bobJob}`, { eventStatus: 'N' })).statusCode, 200)
  const meeting = (organizer: string, participant: string) => ({ title: 'M', startsAt: hoursFromNow(48), durationMinutes: 30, location: 'Room', participants: [{ email: participant }], organizer: { userId: organizer, email: organizer } })
  const eveMeeting = (await post(app, '/api/meetings', meeting(EVE, BOB))).json().id as string
  const bobMeeting = (await post(app, '/api/meetings', meeting(BOB, EVE))).json().id as string
  const eveTask = (await post(app, '/api/tasks', { type: 'approval', input: { who: EVE }, owner: EVE, approvers: [BOB] })).json().taskId as string
  const bobTask = (await post(app, '/api/tasks', { type: 'approval', input: {}, owner: BOB, approvers: [EVE] })).json().taskId as string
  const eveSchedule = (await post(app, '/api/schedules', { name: 'yearly', cron: '0 0 1 1 *', task: { type: 't' }, owner: EVE })).json().scheduleId as string
  t.ok(eveMeeting !== undefined && bobMeeting !== undefined && eveTask !== undefined && bobTask !== undefined && eveSchedule !== undefined, 'every record made')
  // every status of Eve's first job is out (its SSE history)
  await until('Eve\'s job status', async () => await countOn(runtime, 'JOBS', Subjects.jobStatusOfUser(EVE)) === 1 ? true : undefined)
  await until('the notifications of Eve\'s meeting and task', async () => await countOn(runtime, 'NOTIFY', `notify.requested.${eveMeeting}`) === 1 && await countOn(runtime, 'NOTIFY', `notify.requested.task.${eveTask}`) === 1 ? true : undefined)
  for (const svc of [a, b]) t.equal((await eventsOf(svc.app, EVE, lastCollect)).length, 5, 'Eve\'s events before, in both instances')

  const erase = await app.inject({ method: 'DELETE', url: `/api/users/${encodeURIComponent(EVE)}` })
  t.equal(erase.statusCode, 202)
  const { erasureId } = erase.json()
  t.match(erasureId, /^[0-9a-f]{32}$/)
  t.equal(erase.headers.location, `/api/erasures/${erasureId as string}`)
  t.match(erase.json(), { status: 'pending' })

  const done = await erasureDone(a, erasureId)
  t.match(done, { erasureId, status: 'done', suppress: false, suppressed: false })
  // COLLECT 5 events; JOBS 2 requests, 1 completion, 1 status; MEETINGS and TASKS the aggregates
  // (the task and the schedule); NOTIFY a request and a result for the meeting and the task
  t.same(done.removed.streams, { COLLECT: 5, JOBS: 4, MEETINGS: 1, TASKS: 2, NOTIFY: 4 }, 'messages purged per stream')
  // rows: the meeting and its participant, the delivery records and their outbox copies
  t.match(done.removed.readModels, { 'collect-events': 5, jobs: 2, meetings: 2, tasks: 1, schedules: 1, notifications: 4 }, 'rows dropped per read model')

  // the streams: a direct get by the user's subjects finds nothing, the subject counts are 0
  for (const event of ['view', 'buy']) {
    t.equal(await runtime.jsm.direct.getMessage('COLLECT', { last_by_subj: Subjects.collect(EVE, event) }).catch(() => null), null, `direct get ${Subjects.collect(EVE, event)}: nothing`)
  }
  t.equal(await countOn(runtime, 'COLLECT', Subjects.collectOfUser(EVE)), 0)
  t.equal(await countOn(runtime, 'JOBS', Subjects.jobStatusOfUser(EVE)), 0, 'the SSE history of Eve\'s jobs')
  for (const id of eveJobs) t.equal(await countOn(runtime, 'JOBS', `jobs.*.${id}`), 0, `job ${id}`)
  t.equal(await countOn(runtime, 'MEETINGS', Subjects.meeting(eveMeeting)), 0)
  t.equal(await countOn(runtime, 'TASKS', Subjects.task(eveTask)), 0)
  t.equal(await countOn(runtime, 'TASKS', Subjects.schedule(eveSchedule)), 0)
  t.equal(await countOn(runtime, 'NOTIFY', `notify.requested.${eveMeeting}`), 0)
  const replay: unknown[] = []
  for await (const ev of runtime.hubs.jobs.replay(Subjects.jobStatusOfUser(EVE), 0, Number.MAX_SAFE_INTEGER)) replay.push(ev)
  t.same(replay, [], 'an SSE replay of Eve\'s jobs from the start finds nothing')

  const check = async (svc: Service, label: string): Promise<void> => {
    t.same(await eventsOf(svc.app, EVE), [], `${label}: GET /api/event/{Eve} is empty`)
    t.same((await eventsOf(svc.app, BOB)).sort(), ['b0', 'b1', 'b2'], `${label}: Bob's events are all there`)
    for (const id of eveJobs) t.equal(await statusOf(svc, `/noti/jobs/${id}`), 404, `${label}: Eve's job`)
    t.equal(await statusOf(svc, `/noti/jobs/${bobJob}`), 200, `${label}: Bob's job`)
    t.equal(await statusOf(svc, `/api/meetings/${eveMeeting}`), 404, `${label}: the meeting Eve organized`)
    t.equal(await statusOf(svc, `/api/tasks/${eveTask}`), 404, `${label}: Eve's task`)
    t.equal(await statusOf(svc, `/api/schedules/${eveSchedule}`), 404, `${label}: Eve's schedule`)
    // records of others where Eve takes part are kept (README: a meeting is its organizer's record)
    const kept = (await svc.app.inject({ url: `/api/meetings/${bobMeeting}` })).json()
    t.same(kept.participants.map((p: { email: string }) => p.email), [EVE], `${label}: Bob's meeting keeps Eve as a participant`)
    t.match((await svc.app.inject({ url: `/api/tasks/${bobTask}` })).json(), { approvers: [EVE] }, `${label}: Bob's task keeps Eve as its approver`)
  }
  await check(a, 'the instance that took the erasure')
  await erasureDone(b, erasureId)
  await check(b, 'a second instance running through it')
  const c = await startService(t, { natsUrl: a.natsUrl, env: ENV })
  await c.runtime.readModels.waitFor('erasures', await c.runtime.readModels.streamEnd('ERASURES'), 10_000)
  await c.runtime.readModels.waitFor('collect-events', await c.runtime.readModels.streamEnd('COLLECT'), 10_000)
  await check(c, 'a new instance with its own DATA_DIR')
  t.match((await c.app.inject({ url: `/api/erasures/${erasureId as string}` })).json(), { status: 'done', removed: { streams: done.removed.streams } })
  await a.close()
  const restarted = await startService(t, { natsUrl: a.natsUrl, env: ENV })
  await restarted.runtime.readModels.waitFor('collect-events', await restarted.runtime.readModels.streamEnd('COLLECT'), 10_000)
  await check(restarted, 'a restart with an emptied DATA_DIR (full rebuild)')

  // the erasure itself carries no personal data
  const info = await restarted.runtime.jsm.streams.info('ERASURES')
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await restarted.runtime.jsm.streams.getMessage('ERASURES', { seq })
    const raw = `${m?.subject ?? ''} ${JSON.stringify([...m?.header ?? []])} ${new TextDecoder().decode(m?.data)}`
    t.notOk(raw.toLowerCase().includes('eve'), `ERASURES ${seq} (${m?.subject ?? ''}) names no user`)
  }
})

t.test('?suppress=true refuses the user\'s writes in every instance until the suppression is lifted; an erasure without it does not', async t => {
  const a = await startService(t, { env: ENV })
  const b = await startService(t, { natsUrl: a.natsUrl, env: ENV })
  const collect = (svc: Service, user: string, id: string) => post(svc.app, '/api/collect', { event_id: id, event: 'view', user_id: user })
  t.equal((await collect(a, 'mallory', 'm0')).statusCode, 200)

  const erase = await a.app.inject({ method: 'DELETE', url: '/api/users/mallory?suppress=true' })
  t.equal(erase.statusCode, 202)
  const refused = await collect(a, 'mallory', 'm1')
  t.equal(refused.statusCode, 409, 'refused at once by the instance that took it')
  t.match(refused.json(), { type: 'urn:jetway:problem:user-suppressed', code: 'JETWAY_USER_SUPPRESSED', errors: [{ field: 'user_id' }], is_success: false })
  t.match(refused.json().detail, /suppressed.*DELETE \/api\/suppressions\/\{userId\}/)
  const batch = await post(a.app, '/api/collect/batch', { events: [{ event_id: 'm2', event: 'view', user_id: 'mallory' }, { event_id: 'o1', event: 'view', user_id: 'oscar' }] })
  t.match(batch.json(), { accepted: 1, rejected: 1, results: [{ status: 'rejected', errors: [{ field: 'events.0.user_id' }] }, { status: 'accepted' }] })
  t.equal((await post(a.app, '/noti/pub', { eventType: 'TEST', userId: 'mallory' })).statusCode, 409, 'a job for the user too')
  t.equal((await post(a.app, '/api/tasks', { type: 'x', input: {}, owner: 'mallory' })).statusCode, 409, 'and a task they would own')
  await until('the other instance knows', async () => b.runtime.suppressions.isSuppressed('mallory') ? true : undefined)
  t.equal((await collect(b, 'mallory', 'm3')).statusCode, 409, 'the other instance refuses too')
  const done = await erasureDone(a, erase.json().erasureId)
  t.match(done, { suppress: true, suppressed: true })
  t.same(await eventsOf(a.app, 'mallory'), [], 'what the user had is erased')

  t.equal((await a.app.inject({ method: 'DELETE', url: '/api/suppressions/mallory' })).statusCode, 204)
  t.equal((await collect(a, 'mallory', 'm4')).statusCode, 200, 'taken again')
  t.equal((await a.app.inject({ method: 'DELETE', url: '/api/suppressions/mallory' })).statusCode, 404, 'not suppressed any more')
  await until('the other instance knows', async () => b.runtime.suppressions.isSuppressed('mallory') ? undefined : true)
  t.equal((await collect(b, 'mallory', 'm5')).statusCode, 200, 'the other instance takes them again')
  t.match((await a.app.inject({ url: `/api/erasures/${erase.json().erasureId as string}` })).json(), { suppress: true, suppressed: false })

  // without suppress: the user may come back; what they write after the erasure is theirs and stays
  const plain = await a.app.inject({ method: 'DELETE', url: '/api/users/oscar' })
  await erasureDone(a, plain.json().erasureId)
  const back = await collect(a, 'oscar', 'o2')
  t.equal(back.statusCode, 200)
  t.same(await eventsOf(a.app, 'oscar', back.headers['jetway-seq'] as string), ['o2'], 'the event from before is erased, the new one kept')
  await a.close()
  const again = await startService(t, { natsUrl: a.natsUrl, dataDir: a.dataDir, env: ENV })
  await again.runtime.readModels.waitFor('collect-events', await again.runtime.readModels.streamEnd('COLLECT'), 10_000)
  t.same(await eventsOf(again.app, 'oscar'), ['o2'], 'a restart (which applies every erasure again) keeps it')
})

t.test('ERASURE_KEY: a start with another key than the erasures were recorded with is refused', async t => {
  const key = 'k'.repeat(40)
  const a = await startService(t, { env: { ...ENV, ERASURE_KEY: key } })
  await a.close()
  await t.rejects(startService(t, { natsUrl: a.natsUrl, env: { ...ENV, ERASURE_KEY: 'x'.repeat(40) } }), /ERASURE_KEY is not the key the erasures in stream ERASURES were recorded with/)
  await t.rejects(startService(t, { natsUrl: a.natsUrl, env: ENV }), /recorded with ERASURE_KEY/)
  const same = await startService(t, { natsUrl: a.natsUrl, env: { ...ENV, ERASURE_KEY: key } })
  t.equal(same.runtime.keys.of('u'), a.runtime.keys.of('u'), 'the same key hashes alike')
})
