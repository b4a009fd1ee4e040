import t from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { pino } from 'pino'
import { natsServer } from '../fixtures/nats.js'
import { until } from '../fixtures/wait.js'
import { StreamTail } from '../../src/store/tail.js'

// The live tail's fan-out (src/store/tail.ts): a broadcast to more listeners than one slice is
// handed out in slices with the event loop free between them, and still reaches every listener
// once, in stream order, and no listener after it has left.

t.test('a broadcast to 2,500 listeners: in slices, each listener gets every event once and in order, none after leaving', async t => {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'FAN', subjects: ['fan.>'] })
  const tail = new StreamTail<{ seq: number }>({
    js,
    jsm,
    stream: 'FAN',
    decode: msg => ({ seq: msg.seq }),
    keysOf: subject => [subject === 'fan.one' ? 'one' : 'all'],
    log: pino({ level: 'silent' })
  })
  await tail.start()
  t.teardown(async () => { await tail.stop() })

  const N = 2500
  const got: number[][] = Array.from({ length: N }, () => [])
  const unsubscribe: (() => void)[] = []
  let loopRanDuringFirst = false
  let firstCallsLeft = N - 1 // the last listener leaves before it is called
  for (let i = 0; i < N; i++) {
    unsubscribe.push(tail.subscribe('all', ev => {
      got[i]!.push(ev.seq)
      if (ev.seq !== 1) return
      firstCallsLeft--
      // the first listener of the first event: leaves a later listener, and looks whether
      // anything else runs on the thread before the last listener has the event
      if (i === 0) {
        unsubscribe[N - 1]!()
        setImmediate(() => { loopRanDuringFirst = firstCallsLeft > 0 })
      }
    }))
  }
  const alone: number[] = []
  tail.subscribe('one', ev => { alone.push(ev.seq) })

  await js.publish('fan.all', '1')
  await js.publish('fan.all', '2')
  await js.publish('fan.one', '3')
  await js.publish('fan.all', '4')
  await until('every listener has the three broadcasts', () => got.slice(0, N - 1).every(g => g.length === 3) ? true : undefined)

  t.ok(loopRanDuringFirst, 'the thread ran other work between slices of the first broadcast')
  t.same(new Set(got.slice(0, N - 1).map(g => g.join(','))), new Set(['1,2,4']), 'each of the others: every broadcast once, in order')
  t.same(got[N - 1], [], 'the listener that left before its slice got nothing')
  t.same(alone, [3], 'another key\'s listener: its own event only')
  t.equal(tail.listenerCount('all'), N - 1)
})
