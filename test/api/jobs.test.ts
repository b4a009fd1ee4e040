import t from 'tap'
import { HTTP, CloudEvent } from 'cloudevents'
import { startService, post, countOn, seqOf } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'
import { until } from '../fixtures/wait.js'
import { eventIdFor } from '../../src/api/jobs.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { Subjects } from '../../src/store/subjects.js'

const FAST = { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '1s' }

t.test('pub answers the seed shape once job.requested is in JOBS; Idempotency-Key returns the same eventId', async t => {
  const { app, runtime } = await startService(t, { env: FAST })
  const r = await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'test@test.com' })
  t.equal(r.statusCode, 200)
  t.strictSame(Object.keys(r.json()), ['eventId'])
  const { eventId } = r.json()
  t.match(eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  const msg = await runtime.jsm.streams.getMessage('JOBS', { seq: seqOf(r) })
  t.equal(msg!.subject, `jobs.requested.${eventId as string}`)
  t.equal(msg!.header.get('ce-type'), 'job.requested')
  t.match(msg!.json(), { eventId, eventType: 'TRAINING', userId: 'test@test.com' })

  const job = await app.inject({ url: `/noti/jobs/${eventId as string}?min_seq=${r.headers['jetway-seq'] as string}` })
  t.match(job.json(), { eventId, userId: 'test@test.com', eventType: 'TRAINING', status: 'PENDING', eventStatus: null, eventDesc: '', completedAt: null })

  const a = await post(app, '/noti/pub', { eventType: 'DEPLOY', userId: 'u1' }, { 'idempotency-key': 'k-1' })
  const b = await post(app, '/noti/pub', { eventType: 'DEPLOY', userId: 'u1' }, { 'idempotency-key': 'k-1' })
  t.equal(a.json().eventId, b.json().eventId, 'a retry gets the same eventId')
  t.equal(a.json().eventId, eventIdFor('u1', 'k-1'))
  t.equal(b.headers['jetway-duplicate'], 'true')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.requested.>'), 2)

  for (const bad of [{ eventType: 'COOKING', userId: 'u' }, { eventType: 'TEST' }, { eventType: 'TEST', userId: 'u', timeoutSeconds: -1 }]) {
    const x = await post(app, '/noti/pub', bad)
    t.equal(x.statusCode, 400)
    t.equal(x.headers['content-type'], 'application/problem+json')
  }
  t.equal((await app.inject({ url: '/noti/jobs/nope' })).statusCode, 404)
})

t.test('Event Grid: the validation handshake, a completion streamed over SSE, redelivery appends once', async t => {
  const { app, runtime, url } = await startService(t, { env: FAST, listen: 0 })
  const handshake = await post(app, '/noti/events', [{ id: 'v1', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', subject: '', data: { validationCode: 'ABC-123' }, eventTime: new Date().toISOString(), dataVersion: '1' }])
  t.equal(handshake.statusCode, 200)
  t.same(handshake.json(), { validationResponse: 'ABC-123' })

  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'test@test.com' })).json()
  const sub = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  // the seed's Event Grid event: id is the job's eventId
  const gridEvent = [{ id: eventId, subject: 'VRD TEST EVENT', dataVersion: '2.0', eventType: 'VRD.ML.CompleteEvent', data: { desc: 'completed vrd ml....' }, eventTime: '12121' }]
  const r = await post(app, '/noti/events', gridEvent)
  t.equal(r.statusCode, 200)
  t.same(r.json(), { accepted: 1 })
  const [received] = await sub.until(1)
  t.same(received!.data, { eventId, eventStatus: 'Y', eventDesc: 'completed vrd ml....', eventType: 'TRAINING', userId: 'test@test.com' })
  t.equal(received!.type, 'job.status.changed')

  const again = await post(app, '/noti/events', gridEvent)
  t.equal(again.statusCode, 200)
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 1, 'Event Grid redelivery appends nothing')

  // a failure named by data.eventId, and a second completion for the finished job
  const failed = await post(app, '/noti/events', [{ id: 'grid-77', eventType: 'VRD.ML.FailEvent', data: { eventId, reason: 'OOM' }, subject: 's', eventTime: 't', dataVersion: '1' }])
  t.equal(failed.statusCode, 200)
  // the status event's SSE id is its JOBS sequence: the read waits until the jobs read model has it
  const job = await app.inject({ url: `/noti/jobs/${eventId as string}?min_seq=JOBS:${received!.id}` })
  t.match(job.json(), { status: 'Y', eventStatus: 'Y', eventDesc: 'completed vrd ml....' }, 'a second completion changes nothing')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.status.>'), 1)

  const never = await post(app, '/noti/events', [{ id: 'x', eventType: 'Something.Else', data: {} }])
  t.equal(never.statusCode, 400, 'an event with no outcome can never succeed')
  t.match(never.json().errors, [{ field: '0.eventType' }])
  const junk = await app.inject({ method: 'POST', url: '/noti/events', payload: '[{', headers: { 'content-type': 'application/json' } })
  t.equal(junk.statusCode, 400)
})

t.test('CloudEvents from the official SDK: binary, structured and batch; the OPTIONS handshake', async t => {
  const { app, url } = await startService(t, { env: FAST, listen: 0 })
  const jobs: string[] = []
  for (let i = 0; i < 4; i++) jobs.push((await post(app, '/noti/pub', { eventType: 'DEPLOY', userId: 'ce-user' })).json().eventId)
  const sub = subscribe(t, `${url}/noti/users/ce-user/sub`)
  await sub.open() // the per-user stream is live-only without Last-Event-ID

  const send = async (message: { headers: Record<string, unknown>, body: unknown }) =>
    await fetch(`${url}/noti/events`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string })
  const binary = HTTP.binary(new CloudEvent({ source: '/ml/runner', type: 'vrd.ml.CompleteEvent', data: { eventId: jobs[0] } }))
  t.equal((await send(binary)).status, 200)
  const structured = HTTP.structured(new CloudEvent({ source: '/ml/runner', type: 'vrd.ml.result', data: { eventId: jobs[1], status: 'failed', reason: 'diverged' } }))
  t.equal((await send(structured)).status, 200)
  const batch = JSON.stringify([
    new CloudEvent({ source: '/ml/runner', type: 'vrd.ml.CompleteEvent', data: { eventId: jobs[2] } }),
    new CloudEvent({ source: '/ml/runner', type: 'vrd.ml.FailEvent', data: { eventId: jobs[3], desc: 'no GPU' } })
  ])
  const b = await fetch(`${url}/noti/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: batch })
  t.equal(b.status, 200)
  t.same(await b.json(), { accepted: 2 })

  const received = await sub.until(4)
  const byJob = Object.fromEntries(received.map(r => [(r.data as { eventId: string }).eventId, r.data as { eventStatus: string, eventDesc: string }]))
  t.match(byJob[jobs[0]!], { eventStatus: 'Y' })
  t.match(byJob[jobs[1]!], { eventStatus: 'N', eventDesc: 'diverged' })
  t.match(byJob[jobs[2]!], { eventStatus: 'Y' })
  t.match(byJob[jobs[3]!], { eventStatus: 'N', eventDesc: 'no GPU' })
  const ids = received.map(r => Number(r.id))
  t.same(ids, [...ids].sort((x, y) => x - y), 'ids are increasing stream sequences')

  const options = await app.inject({ method: 'OPTIONS', url: '/noti/events', headers: { 'webhook-request-origin': 'eventemitter.example.com' } })
  t.equal(options.statusCode, 200)
  t.equal(options.headers['webhook-allowed-origin'], 'eventemitter.example.com')
  t.equal(options.headers['webhook-allowed-rate'], '*')

  const invalid = await app.inject({ method: 'POST', url: '/noti/events', payload: '{"specversion":"1.0"}', headers: { 'content-type': 'application/cloudevents+json' } })
  t.equal(invalid.statusCode, 400)
})

t.test('POST /noti/complete: INTAKE_KEY; 404 at once for a job never requested, storing nothing; 200 for a known job', async t => {
  const { app, runtime } = await startService(t, { env: { ...FAST, INTAKE_KEY: 'intake-secret-1' } })
  const key = { 'x-intake-key': 'intake-secret-1' }
  const eventId = eventIdFor('early', 'job-1')
  const noKey = await post(app, `/noti/complete/${eventId}`, { eventStatus: 'Y' })
  t.equal(noKey.statusCode, 401)
  t.equal((await post(app, '/noti/events', [{ id: eventId, eventType: 'x.CompleteEvent' }])).statusCode, 401)

  const unknown = await post(app, `/noti/complete/${eventId}`, { eventStatus: 'N', eventDesc: 'bad data' }, key)
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.headers['content-type'], 'application/problem+json')
  t.match(unknown.json(), { status: 404, code: 'JETWAY_NOT_FOUND', detail: `no job ${eventId}: it was never requested` })
  const grid = await post(app, '/noti/events?key=intake-secret-1', [{ id: 'other', eventType: 'x.CompleteEvent', data: { eventId: 'other-job' } }])
  t.equal(grid.statusCode, 404)
  t.match(grid.json(), { status: 404, errors: [{ field: '0.data.eventId', message: 'names job other-job, which was never requested' }] })
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 0, 'nothing stored')

  const pub = await post(app, '/noti/pub', { eventType: 'TEST', userId: 'early' }, { 'idempotency-key': 'job-1' })
  t.equal(pub.json().eventId, eventId)
  // a batch naming one job never requested is refused whole, as a batch with one invalid event is
  const mixed = await post(app, '/noti/events', [
    { id: 'g-1', eventType: 'x.FailEvent', data: { eventId, desc: 'bad data' } },
    { id: 'never-requested', eventType: 'x.CompleteEvent' }
  ], key)
  t.equal(mixed.statusCode, 404)
  t.match(mixed.json(), { errors: [{ field: '1.id', message: 'names job never-requested, which was never requested' }] })
  t.equal(mixed.json().errors.length, 1)
  t.equal(await countOn(runtime, 'JOBS', 'jobs.completed.>'), 0, 'nothing of it stored')

  // known the moment pub answered (JOBS holds its request before the read model may)
  const done = await post(app, `/noti/complete/${eventId}`, { eventStatus: 'N', eventDesc: 'bad data' }, key)
  t.equal(done.statusCode, 200)
  t.same(done.json(), { accepted: 1 })
  const job = await until('the completion applied', async () => {
    const j = (await app.inject({ url: `/noti/jobs/${eventId}` })).json()
    return j.status === 'PENDING' ? undefined : j
  })
  t.match(job, { status: 'N', eventDesc: 'bad data' })
})

t.test('a completion stored before its request (not through the intake) resolves once the request arrives', async t => {
  const { app, runtime } = await startService(t, { env: FAST })
  const eventId = eventIdFor('early', 'job-2')
  await appendEvent(runtime.js, {
    def: Events.jobCompleted,
    data: { eventId, eventStatus: 'Y', eventDesc: 'ran early', origin: 'intake' },
    subject: Subjects.jobCompleted(eventId),
    source: '/test',
    about: eventId,
    time: new Date()
  })
  t.equal((await post(app, '/noti/pub', { eventType: 'TEST', userId: 'early' }, { 'idempotency-key': 'job-2' })).json().eventId, eventId)
  const job = await until('the early completion applied', async () => {
    const j = (await app.inject({ url: `/noti/jobs/${eventId}` })).json()
    return j.status === 'PENDING' ? undefined : j
  })
  t.match(job, { status: 'Y', eventDesc: 'ran early' }, 'the completion worker retried it until the request was there')
})

t.test('a job with no completion by its timeout fails as timed out', async t => {
  const { app, url } = await startService(t, { env: FAST, listen: 0 })
  const { eventId } = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'slow', timeoutSeconds: 0.3 })).json()
  const sub = subscribe(t, `${url}/noti/sub/${eventId as string}`)
  const [ev] = await sub.until(1)
  t.same(ev!.data, { eventId, eventStatus: 'N', eventDesc: 'timed out: no completion within 300ms', eventType: 'TEST', userId: 'slow' })
  const late = await post(app, `/noti/complete/${eventId as string}`, { eventStatus: 'Y' })
  t.equal(late.statusCode, 200)
  const job = await app.inject({ url: `/noti/jobs/${eventId as string}` })
  t.match(job.json(), { status: 'N' }, 'a completion after the timeout changes nothing')
})
