import t from 'tap'
import { createSigner } from 'fast-jwt'
import { freePort } from '../fixtures/process.js'
import { natsServer } from '../fixtures/nats.js'
import { startService, post } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'

// Task events over SSE: one task from its creation, or an owner's tasks live; a resume with
// Last-Event-ID has no gap and no duplicate.

// instances of one fleet share the token secret (else each makes its own in its DATA_DIR)
const FAST = { SSE_HEARTBEAT: '200ms', TASK_TOKEN_SECRET: 'a-fleet-wide-secret-of-32-characters!' }
const TYPES = ['task.created', 'task.heartbeat.received', 'task.succeeded', 'task.failed', 'task.timed_out']
const task = (owner: string) => ({ type: 'review', input: { n: 1 }, owner })

t.test('one task: its events from the creation; a late subscriber with Last-Event-ID gets the rest only', async t => {
  const { app, url } = await startService(t, { env: FAST, listen: 0 })
  const { taskId, taskToken } = (await post(app, '/api/tasks', task('ops'))).json()
  const sub = subscribe(t, `${url}/api/tasks/${taskId as string}/events`, {}, TYPES)
  const [created] = await sub.until(1)
  t.match(created, { type: 'task.created', data: { taskId, owner: 'ops', input: { n: 1 } } })
  await post(app, '/api/tasks/heartbeat', { taskToken })
  await post(app, '/api/tasks/success', { taskToken, output: { ok: true } })
  const all = await sub.until(3)
  t.same(all.map(r => r.type), ['task.created', 'task.heartbeat.received', 'task.succeeded'])
  t.match(all[2], { data: { taskId, output: { ok: true }, decidedBy: { via: 'token' } } })

  const late = subscribe(t, `${url}/api/tasks/${taskId as string}/events?lastEventId=${created!.id}`, {}, TYPES)
  const rest = await late.until(2)
  t.same(rest.map(r => r.id), all.slice(1).map(r => r.id), 'after the given id, the same ids')
  const unknown = await fetch(`${url}/api/tasks/${'0'.repeat(32)}/events`)
  t.equal(unknown.status, 404)
})

t.test('an owner\'s tasks: eventsource resumes with Last-Event-ID across a server-side disconnect, no gap, no duplicate, no one else\'s', async t => {
  const natsUrl = await natsServer(t)
  const port = await freePort()
  const first = await startService(t, { natsUrl, env: FAST, listen: port })
  const sub = subscribe(t, `http://127.0.0.1:${port}/api/tasks/sub?owner=ops`, {}, TYPES)
  await sub.open()
  const tokens: string[] = []
  for (let i = 0; i < 3; i++) tokens.push((await post(first.app, '/api/tasks', task('ops'))).json().taskToken)
  await post(first.app, '/api/tasks', task('someone-else'))
  await post(first.app, '/api/tasks/success', { taskToken: tokens[0], output: 1 })
  await sub.until(4)

  // the server goes away (its SSE streams end); more happens meanwhile; it comes back
  await first.close()
  const other = await startService(t, { natsUrl, env: FAST })
  t.equal((await post(other.app, '/api/tasks/failure', { taskToken: tokens[1], error: 'E' })).statusCode, 200, 'another instance takes the token')
  await post(other.app, '/api/tasks', task('someone-else'))
  t.equal((await post(other.app, '/api/tasks/success', { taskToken: tokens[2], output: 3 })).statusCode, 200)
  await startService(t, { natsUrl, env: FAST, listen: port })

  const all = await sub.until(6)
  await sub.open(2)
  t.equal(sub.opened, 2, 'reconnected once')
  t.same(all.map(r => r.type), ['task.created', 'task.created', 'task.created', 'task.succeeded', 'task.failed', 'task.succeeded'])
  t.ok(all.every(r => (r.data as { owner: string }).owner === 'ops'), 'only the owner\'s tasks')
  const ids = all.map(r => Number(r.id))
  t.same(ids, [...new Set(ids)].sort((a, b) => a - b), 'ids strictly increase: no duplicate')
})

t.test('AUTH_MODE=jwt: the stream of one\'s own tasks; another user\'s task is a 404', async t => {
  const secret = 'a-test-secret-of-some-length'
  const sign = createSigner({ key: secret, expiresIn: 3600_000 })
  const { app, url } = await startService(t, { env: { ...FAST, AUTH_MODE: 'jwt', JWT_SECRET: secret }, listen: 0 })
  const alice = sign({ sub: 'alice' })
  const bob = sign({ sub: 'bob' })
  const mine = (await post(app, '/api/tasks', { type: 'x', input: {} }, { authorization: `Bearer ${alice}` })).json()
  const sub = subscribe(t, `${url}/api/tasks/sub?access_token=${bob}`, {}, TYPES)
  await sub.open()
  const theirs = await fetch(`${url}/api/tasks/${mine.taskId as string}/events?access_token=${bob}`)
  t.equal(theirs.status, 404)
  await post(app, '/api/tasks', { type: 'y', input: {} }, { authorization: `Bearer ${bob}` })
  await post(app, '/api/tasks/success', { taskToken: mine.taskToken, output: 1 })
  const [only] = await sub.until(1)
  t.match(only, { type: 'task.created', data: { owner: 'bob', type: 'y' } })
  const own = subscribe(t, `${url}/api/tasks/${mine.taskId as string}/events?access_token=${alice}`, {}, TYPES)
  t.same((await own.until(2)).map(r => r.type), ['task.created', 'task.succeeded'])
  t.equal(sub.received.length, 1, 'bob saw none of alice\'s events')
})
