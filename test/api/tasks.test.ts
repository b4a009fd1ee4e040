import t from 'tap'
import { createSigner } from 'fast-jwt'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'

// The task API (seed 003): create, read, complete with the token; Step Functions' rules.

const task = (extra: object = {}) => ({ type: 'approval', title: 'Deploy v2', input: { version: '2.0.0', env: 'prod' }, owner: 'ops', ...extra })
const get = async (svc: Service, id: string, headers: Record<string, string> = {}) => await svc.app.inject({ url: `/api/tasks/${id}`, headers })
const statusOf = async (svc: Service, id: string) => (await get(svc, id)).json() as { status: string, error: string | null, cause: string | null }

t.test('create -> 201 WAITING with a task token; GET shows it; success completes it; a second completion is TaskTimedOut', async t => {
  const svc = await startService(t)
  const created = await post(svc.app, '/api/tasks', task({ timeoutSeconds: 3600 }))
  t.equal(created.statusCode, 201)
  const body = created.json()
  t.match(body, { status: 'WAITING', type: 'approval', title: 'Deploy v2', owner: 'ops', input: { version: '2.0.0' }, timeoutSeconds: 3600, version: 1, decidedBy: null })
  t.match(body.taskId, /^[0-9a-f]{32}$/)
  t.match(body.taskToken, /^t1\.[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/, 'opaque, URL-safe, 256-bit MAC')
  t.ok(body.taskToken.length <= 1024)
  t.equal(created.headers.etag, '"1"')
  t.equal(created.headers.location, `/api/tasks/${body.taskId as string}`)

  const read = await get(svc, body.taskId, { 'jetway-seq': created.headers['jetway-seq'] as string })
  t.equal(read.statusCode, 200)
  t.match(read.json(), { taskId: body.taskId, status: 'WAITING', taskToken: body.taskToken, deadline: body.deadline, callbacks: [] })

  const ok = await post(svc.app, '/api/tasks/success', { taskToken: body.taskToken, output: { result: 42 } })
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), { taskId: body.taskId, status: 'SUCCEEDED', version: 2 })
  const done = await get(svc, body.taskId, { 'jetway-seq': ok.headers['jetway-seq'] as string })
  t.match(done.json(), { status: 'SUCCEEDED', output: { result: 42 }, decidedBy: { via: 'token' } })
  t.ok(done.json().decidedAt)

  const again = await post(svc.app, '/api/tasks/failure', { taskToken: body.taskToken, error: 'Late' })
  t.equal(again.statusCode, 409)
  t.match(again.json().detail, /TaskTimedOut/)
  const beat = await post(svc.app, '/api/tasks/heartbeat', { taskToken: body.taskToken })
  t.equal(beat.statusCode, 409, 'a heartbeat on a closed task too')
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${body.taskId as string}`), 2, 'nothing appended after the first completion')
})

t.test('bad input: heartbeatSeconds >= timeoutSeconds is 400; forged and malformed tokens; unknown task', async t => {
  const svc = await startService(t)
  const bad = await post(svc.app, '/api/tasks', task({ timeoutSeconds: 10, heartbeatSeconds: 10 }))
  t.equal(bad.statusCode, 400)
  t.match(bad.json().errors, [{ field: 'heartbeatSeconds' }])
  const noInput = await post(svc.app, '/api/tasks', { type: 'x', owner: 'ops' })
  t.equal(noInput.statusCode, 400)
  t.match(noInput.json().errors, [{ field: 'input', message: 'is required' }])

  const { taskToken, taskId } = (await post(svc.app, '/api/tasks', task())).json()
  const forged = `${(taskToken as string).slice(0, -4)}AAAA`
  const r1 = await post(svc.app, '/api/tasks/success', { taskToken: forged, output: {} })
  t.equal(r1.statusCode, 400)
  t.match(r1.json(), { errors: [{ field: 'taskToken' }], detail: /InvalidToken/ })
  const r2 = await post(svc.app, '/api/tasks/success', { taskToken: 'nope', output: {} })
  t.equal(r2.statusCode, 400)
  t.match(r2.json().detail, /InvalidToken/)
  const { taskTokenOf } = await tokenHelper(svc)
  const r3 = await post(svc.app, '/api/tasks/success', { taskToken: taskTokenOf('f'.repeat(32)), output: {} })
  t.equal(r3.statusCode, 404)
  t.match(r3.json().detail, /TaskDoesNotExist/)
  const big = await post(svc.app, '/api/tasks/success', { taskToken, output: { blob: 'x'.repeat(300 * 1024) } })
  t.equal(big.statusCode, 400)
  t.match(big.json().detail, /InvalidOutput/)
  t.equal((await statusOf(svc, taskId)).status, 'WAITING')
})

async function tokenHelper (svc: Service) {
  const { taskSecret, taskToken } = await import('../../src/lib/task-tokens.js')
  const secret = taskSecret(svc.config)
  return { taskTokenOf: (id: string) => taskToken(secret, id) }
}

t.test('Idempotency-Key: the same task and token for a retry', async t => {
  const svc = await startService(t)
  const a = await post(svc.app, '/api/tasks', task(), { 'idempotency-key': 'k-1' })
  const b = await post(svc.app, '/api/tasks', task({ title: 'changed' }), { 'idempotency-key': 'k-1' })
  t.equal(a.statusCode, 201)
  t.equal(b.statusCode, 201)
  t.equal(b.json().taskId, a.json().taskId)
  t.equal(b.json().taskToken, a.json().taskToken)
  t.equal(b.json().title, 'Deploy v2', 'the stored task answers, not the retry body')
  t.equal(b.headers['jetway-duplicate'], 'true')
  t.equal(await countOn(svc.runtime, 'TASKS', 'tasks.*'), 1)
})

t.test('timeout and heartbeat timeout with short values; heartbeats keep a task alive, but not past timeoutSeconds', async t => {
  const svc = await startService(t, { env: { TIMER_TICK: '50ms' } })
  const timeout = (await post(svc.app, '/api/tasks', task({ timeoutSeconds: 1 }))).json()
  const heartbeat = (await post(svc.app, '/api/tasks', task({ timeoutSeconds: 60, heartbeatSeconds: 1 }))).json()
  const kept = (await post(svc.app, '/api/tasks', task({ timeoutSeconds: 4, heartbeatSeconds: 2 }))).json()

  // keep `kept` alive with a heartbeat every ~400 ms (a fifth of its heartbeatSeconds) until it is closed
  let beats = 0
  const beating = (async () => {
    for (;;) {
      const r = await post(svc.app, '/api/tasks/heartbeat', { taskToken: kept.taskToken })
      if (r.statusCode !== 200) return r.statusCode
      beats++
      await new Promise(resolve => setTimeout(resolve, 400))
    }
  })()

  const closed = async (id: string) => { const s = await statusOf(svc, id); return s.status !== 'WAITING' ? s : undefined }
  const a = await until('the timeout', async () => await closed(timeout.taskId))
  t.match(a, { status: 'TIMED_OUT', error: 'States.Timeout' })
  const b = await until('the heartbeat timeout', async () => await closed(heartbeat.taskId))
  t.match(b, { status: 'TIMED_OUT', error: 'States.HeartbeatTimeout' })

  t.equal(await beating, 409, 'heartbeats end in TaskTimedOut once the hard cap passed')
  // the refused heartbeat may have recorded the timeout itself: the read model follows shortly
  const keptClosed = await until('the hard cap', async () => await closed(kept.taskId))
  t.match(keptClosed, { status: 'TIMED_OUT', error: 'States.Timeout' }, 'alive past heartbeatSeconds, but not past timeoutSeconds')
  const record = (await get(svc, kept.taskId)).json()
  t.ok(Date.parse(record.lastHeartbeatAt) - Date.parse(record.createdAt) > 2000, `a heartbeat was taken after heartbeatSeconds had passed (${beats} in all)`)
  const late = await post(svc.app, '/api/tasks/success', { taskToken: timeout.taskToken, output: {} })
  t.equal(late.statusCode, 409, 'late completion: TaskTimedOut')
})

t.test('two concurrent completions: one winner', async t => {
  const svc = await startService(t)
  const { taskToken, taskId } = (await post(svc.app, '/api/tasks', task())).json()
  const answers = await Promise.all(Array.from({ length: 8 }, async (_, i) => i % 2 === 0
    ? await post(svc.app, '/api/tasks/success', { taskToken, output: { winner: i } })
    : await post(svc.app, '/api/tasks/failure', { taskToken, error: `E${i}` })))
  t.same(answers.map(a => a.statusCode).filter(s => s === 200), [200], 'exactly one 200')
  t.equal(answers.filter(a => a.statusCode === 409).length, 7, 'the others: TaskTimedOut')
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${taskId as string}`), 2)
})

t.test('AUTH_MODE=jwt: a user sees only their tasks; the token alone completes', async t => {
  const secret = 'a-test-secret-of-some-length'
  const sign = createSigner({ key: secret, expiresIn: 3600_000 })
  const as = (sub: string, extra: object = {}) => ({ authorization: `Bearer ${sign({ sub, ...extra })}` })
  const svc = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: secret } })
  const anon = await post(svc.app, '/api/tasks', task())
  t.equal(anon.statusCode, 401)
  const mine = await post(svc.app, '/api/tasks', { type: 'x', input: {} }, as('alice'))
  t.equal(mine.statusCode, 201)
  t.equal(mine.json().owner, 'alice', 'the owner is the caller')
  const theirs = await post(svc.app, '/api/tasks', { type: 'x', input: {}, owner: 'mallory' }, as('bob'))
  t.equal(theirs.json().owner, 'bob', 'a user cannot name another owner')
  const seq = theirs.headers['jetway-seq'] as string
  t.equal((await get(svc, mine.json().taskId, { ...as('bob'), 'jetway-seq': seq })).statusCode, 404, 'bob does not see alice\'s task')
  t.equal((await get(svc, mine.json().taskId, as('alice'))).statusCode, 200)
  t.equal((await get(svc, mine.json().taskId, as('root', { role: 'admin' }))).statusCode, 200, 'an admin does')
  const list = await svc.app.inject({ url: '/api/tasks', headers: { ...as('bob'), 'jetway-seq': seq } })
  t.same(list.json().items.map((i: { owner: string }) => i.owner), ['bob'])
  const all = await svc.app.inject({ url: '/api/tasks', headers: as('root', { role: 'admin' }) })
  t.equal(all.json().items.length, 2)
  const done = await post(svc.app, '/api/tasks/success', { taskToken: mine.json().taskToken, output: 'ok' })
  t.equal(done.statusCode, 200, 'no user token needed: the task token is the credential')
})

t.test('listing: by status and type, newest first, in cursor pages', async t => {
  const svc = await startService(t)
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await post(svc.app, '/api/tasks', task({ type: i % 2 === 0 ? 'even' : 'odd' }))).json().taskId)
  const first = (await post(svc.app, '/api/tasks', task({ type: 'even' }))).json()
  const seq = (await post(svc.app, '/api/tasks/success', { taskToken: first.taskToken, output: 1 })).headers['jetway-seq'] as string
  const page1 = (await svc.app.inject({ url: '/api/tasks?type=even&limit=2', headers: { 'jetway-seq': seq } })).json()
  t.equal(page1.items.length, 2)
  t.ok(page1.nextCursor)
  const page2 = (await svc.app.inject({ url: `/api/tasks?type=even&limit=2&cursor=${page1.nextCursor as string}` })).json()
  t.same([...page1.items, ...page2.items].map((i: { taskId: string }) => i.taskId), [first.taskId, ids[4], ids[2], ids[0]])
  t.equal(page2.nextCursor, null)
  const succeeded = (await svc.app.inject({ url: '/api/tasks?status=SUCCEEDED' })).json()
  t.same(succeeded.items.map((i: { taskId: string }) => i.taskId), [first.taskId])
})
