import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { pino } from 'pino'
import { startService } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { WorkerRunner } from '../../src/workers/runner.js'
import { defaultRetry, type Worker } from '../../src/workers/worker.js'
import { listDeadLetters } from '../../src/workers/dead-letters.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import type { Runtime } from '../../src/runtime.js'

// The worker runner on a stream of its own (WORK), inside a real service (for DLQ).

const log = pino({ level: 'silent' })

async function setUp (t: Test): Promise<Runtime> {
  const { runtime } = await startService(t)
  await runtime.jsm.streams.add({ name: 'WORK', subjects: ['work.>'] })
  return runtime
}

async function publish (runtime: Runtime, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await appendEvent(runtime.js, {
      def: Events.messageReplayed,
      data: { dlqSeq: i + 1, subject: 'x', seq: i + 1 },
      subject: `work.item.${i}`,
      source: 'test',
      time: new Date()
    })
  }
}

function run (t: Test, runtime: Runtime, worker: Worker, consumer: object, concurrency?: number): WorkerRunner {
  const runner = new WorkerRunner({
    worker,
    js: runtime.js,
    jsm: runtime.jsm,
    log,
    clock: runtime.clock,
    retry: defaultRetry(5, 50),
    concurrency,
    consumer: { filter_subject: 'work.>', ack_policy: 'explicit', ...consumer } as object
  })
  t.teardown(async () => { await runner.stop() })
  return runner
}

t.test('a long effect keeps its message with working(): ack_wait of 1 s never hands it to anyone else', async t => {
  const runtime = await setUp(t)
  let calls = 0
  const worker: Worker = { name: 'slow', stream: 'WORK', async handle () { calls++; await sleep(3000) } }
  await publish(runtime, 1)
  await run(t, runtime, worker, { ack_wait: 1_000_000_000 }).start()
  await until('the ack', async () => (await runtime.jsm.consumers.info('WORK', 'slow')).num_ack_pending === 0 && calls > 0 ? true : undefined)
  const info = await runtime.jsm.consumers.info('WORK', 'slow')
  t.equal(calls, 1, 'handled once')
  t.equal(info.num_redelivered, 0, 'never redelivered')
  t.equal(info.delivered.consumer_seq, 1, 'delivered once')
})

t.test('the prefetch is bounded by the free slots: never more messages out than the concurrency', async t => {
  const runtime = await setUp(t)
  const counter = { done: 0 }
  let maxOut = 0
  const worker: Worker = { name: 'bounded', stream: 'WORK', async handle () { await sleep(100); counter.done++ } }
  await publish(runtime, 20)
  await run(t, runtime, worker, { ack_wait: 30_000_000_000 }, 3).start()
  while (counter.done < 20) {
    const info = await runtime.jsm.consumers.info('WORK', 'bounded')
    maxOut = Math.max(maxOut, info.num_ack_pending)
    await sleep(20)
  }
  t.ok(maxOut >= 1, `some messages were out (${maxOut})`)
  t.ok(maxOut <= 3, `at most 3 out at once (saw ${maxOut})`)
})

t.test('a poison message (not JSON, unknown type) is dead-lettered at once and never handled', async t => {
  const runtime = await setUp(t)
  let calls = 0
  const worker: Worker = { name: 'picky', stream: 'WORK', async handle () { calls++ } }
  const h = natsHeaders()
  h.set('ce-type', 'no.such.type')
  await runtime.js.publish('work.poison.1', 'not json at all', { headers: h })
  const h2 = natsHeaders()
  h2.set('ce-type', 'dlq.message.replayed')
  await runtime.js.publish('work.poison.2', JSON.stringify({ wrong: 'shape' }), { headers: h2 })
  await run(t, runtime, worker, { ack_wait: 30_000_000_000 }).start()
  await until('two dead letters', async () => (await listDeadLetters(runtime.jsm)).length === 2 ? true : undefined)
  const letters = await listDeadLetters(runtime.jsm)
  t.same(letters.map(l => [l.subject, l.deliveries]), [['work.poison.1', 1], ['work.poison.2', 1]], 'each on its first delivery')
  t.match(letters[0]!.error, /poison message/)
  t.equal(calls, 0, 'the worker never saw them')
  await until('terminated', async () => (await runtime.jsm.consumers.info('WORK', 'picky')).num_ack_pending === 0 ? true : undefined)
})

t.test('each worker has its own retry policy: attempts and backoff, counting failures only', async t => {
  const runtime = await setUp(t)
  const seen: number[] = []
  const worker: Worker = {
    name: 'fragile',
    stream: 'WORK',
    retry: { attempts: 2, backoffMs: [30] },
    async handle (_event, msg) { seen.push(msg.info.deliveryCount); throw new Error('always fails') }
  }
  await publish(runtime, 1)
  await run(t, runtime, worker, { ack_wait: 30_000_000_000 }).start()
  await until('the dead letter', async () => (await listDeadLetters(runtime.jsm)).length === 1 ? true : undefined)
  const [letter] = await listDeadLetters(runtime.jsm)
  t.equal(letter!.deliveries, 2, 'the worker policy (2), not the default (5)')
  t.equal(letter!.error, 'always fails')
  t.same(seen, [1, 2], 'delivered twice, once per failure')
})
