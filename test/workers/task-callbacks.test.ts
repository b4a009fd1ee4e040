import t, { type Test } from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { startService, post } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { listDeadLetters, replayDeadLetter } from '../../src/workers/dead-letters.js'
import { walkSubject } from '../../src/store/subject-reader.js'
import { decodeEvent } from '../../src/store/events.js'
import { Subjects } from '../../src/store/subjects.js'

// callbackUrl: the outcome POSTed as JSON, signed per Standard Webhooks, retried after a
// failure (a durable timer, not a held message), dead-lettered after the last attempt.

const SECRET = `whsec_${randomBytes(32).toString('base64')}`

interface Hit { headers: IncomingHttpHeaders, body: string }

/** A receiver on loopback answering each POST with the next status of `statuses`, and `headers`. */
async function receiver (t: Test, statuses: () => number, headers: Record<string, string> = {}) {
  const hits: Hit[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      hits.push({ headers: req.headers, body })
      res.writeHead(statuses(), headers).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const upTo = async (n: number) => await until(`${n} callbacks (got ${hits.length})`, () => hits.length >= n ? hits : undefined)
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits, until: upTo }
}

const env = { RELAY_ALLOW: '127.0.0.0/8', WEBHOOK_SECRET: SECRET, TIMER_TICK: '50ms', WORKER_BACKOFF: '100ms', WORKER_MAX_DELIVER: '3' }

async function taskView (svc: Awaited<ReturnType<typeof startService>>, id: string, ok: (v: { callbacks: { outcome: string, final: boolean }[] }) => boolean) {
  return await until(`task ${id}`, async () => {
    const v = (await svc.app.inject({ url: `/api/tasks/${id}` })).json()
    return ok(v) ? v : undefined
  })
}

t.test('the outcome reaches callbackUrl signed (standardwebhooks verifies it), retried after a 500', async t => {
  let n = 0
  const hook = await receiver(t, () => ++n === 1 ? 500 : 204)
  const svc = await startService(t, { env })
  const { taskId, taskToken } = (await post(svc.app, '/api/tasks', { type: 'build', title: 'Build 7', input: { n: 7 }, owner: 'ci', callbackUrl: hook.url })).json()
  t.equal((await post(svc.app, '/api/tasks/success', { taskToken, output: { artifact: 'b7.tgz' } })).statusCode, 200)

  const [first, second] = await hook.until(2)
  const wh = new Webhook(SECRET)
  for (const hit of [first!, second!]) {
    t.equal(hit.headers['content-type'], 'application/json')
    const payload = wh.verify(hit.body, hit.headers as Record<string, string>) as { type: string, data: Record<string, unknown> }
    t.match(payload, { type: 'task.succeeded', data: { taskId, status: 'SUCCEEDED', type: 'build', title: 'Build 7', owner: 'ci', output: { artifact: 'b7.tgz' }, decidedBy: { via: 'token' } } })
  }
  t.equal(first!.headers['webhook-id'], second!.headers['webhook-id'], 'the same webhook-id on every attempt (receivers dedupe on it)')
  t.throws(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(second!.body, second!.headers as Record<string, string>), 'another secret does not verify')

  const view = await taskView(svc, taskId, v => v.callbacks.some(c => c.outcome === 'delivered'))
  t.match(view.callbacks, [
    { attempt: 1, outcome: 'failed', statusCode: 500, final: false, error: 'status 500' },
    { attempt: 2, outcome: 'delivered', statusCode: 204, final: true }
  ], 'delivery attempts are visible on the task')
  t.equal(hook.hits.length, 2, 'nothing after the delivery')
})

t.test('the outcome of a timed-out task is delivered too; after the last attempt the delivery is dead-lettered and can be replayed', async t => {
  let up = false
  const hook = await receiver(t, () => up ? 200 : 503)
  const svc = await startService(t, { env })
  const timed = (await post(svc.app, '/api/tasks', { type: 'wait', input: {}, owner: 'ci', timeoutSeconds: 1, callbackUrl: hook.url })).json()
  const view = await taskView(svc, timed.taskId, v => v.callbacks.some(c => c.final))
  t.match(view.callbacks, [{ attempt: 1, outcome: 'failed' }, { attempt: 2, outcome: 'failed' }, { attempt: 3, outcome: 'failed', final: true, statusCode: 503 }])
  const body = JSON.parse(hook.hits[0]!.body)
  t.match(body, { type: 'task.timed_out', data: { taskId: timed.taskId, status: 'TIMED_OUT', error: 'States.Timeout' } })

  let letters = await listDeadLetters(svc.runtime.jsm)
  while (letters.length === 0) {
    await new Promise(resolve => setTimeout(resolve, 25))
    letters = await listDeadLetters(svc.runtime.jsm)
  }
  t.match(letters, [{ stream: 'TASKS', consumer: 'task-callbacks', error: /status 503/, deliveries: 3 }], 'kept with the number of attempts made')
  up = true
  await replayDeadLetter(svc.runtime.js, svc.runtime.jsm, letters[0]!.dlqSeq, svc.runtime.clock)
  const after = await taskView(svc, timed.taskId, v => v.callbacks.some(c => c.outcome === 'delivered'))
  t.match(after.callbacks.at(-1), { attempt: 4, outcome: 'delivered', statusCode: 200 }, 'the replay delivered it')
  t.equal(hook.hits.length, 4)
})

t.test('a callbackUrl the SSRF guard refuses fails at once, without a retry', async t => {
  const svc = await startService(t, { env: { ...env, RELAY_ALLOW: '' } })
  const hook = await receiver(t, () => 200)
  const { taskId, taskToken } = (await post(svc.app, '/api/tasks', { type: 'x', input: {}, owner: 'ci', callbackUrl: hook.url })).json()
  await post(svc.app, '/api/tasks/failure', { taskToken, error: 'Nope' })
  const view = await taskView(svc, taskId, v => v.callbacks.length > 0)
  t.match(view.callbacks, [{ attempt: 1, outcome: 'failed', final: true, error: 'JETWAY_OUTBOUND_REFUSED' }])
  t.equal(hook.hits.length, 0, 'no connection was made')
})

t.test("TASK_CALLBACK_* set the callback's policy (the relay's shape), ahead of the worker variables", async t => {
  // WORKER_MAX_DELIVER 3 would make three attempts: TASK_CALLBACK_RETRY 1 makes two
  const hook = await receiver(t, () => 429, { 'retry-after': '3600' })
  const svc = await startService(t, {
    env: { ...env, TASK_CALLBACK_RETRY: '1', TASK_CALLBACK_BACKOFF_POLICY: 'linear', TASK_CALLBACK_BACKOFF_DELAY: '50ms', TASK_CALLBACK_MAX_RETRY_AFTER: '300ms' }
  })
  const { taskId, taskToken } = (await post(svc.app, '/api/tasks', { type: 'x', input: {}, owner: 'ci', callbackUrl: hook.url })).json()
  await post(svc.app, '/api/tasks/failure', { taskToken, error: 'Nope' })
  const view = await taskView(svc, taskId, v => v.callbacks.some(c => c.final))
  t.match(view.callbacks, [
    { attempt: 1, outcome: 'failed', statusCode: 429, final: false, error: 'status 429' },
    { attempt: 2, outcome: 'failed', statusCode: 429, final: true }
  ], 'retried once, then given up')
  t.equal(view.callbacks.length, 2)
  const events = []
  for await (const m of walkSubject(svc.runtime.jsm, 'TASKS', Subjects.taskCallback(taskId))) events.push(decodeEvent(m))
  const first = events[0]!.data as { retryAt: string }
  // retryAt is set at the decision, the event's time a moment later at its append
  const waited = Date.parse(first.retryAt) - Date.parse(events[0]!.time)
  t.ok(waited > 50 && waited <= 300, `the peer's Retry-After (1 h) over the 50 ms backoff, capped at TASK_CALLBACK_MAX_RETRY_AFTER (${waited} ms)`)
})
