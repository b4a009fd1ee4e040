import t, { type Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import { natsServer } from '../fixtures/nats.js'
import { until } from '../fixtures/wait.js'
import { OrderedFollower } from '../../src/store/ordered.js'

// The one resumable ordered-consumer loop (projections, SSE tails, the trigger list): it reads
// from where its caller stands, and after a failed pass starts again from there, so that the
// caller handles every message once, in order, whatever failed in between.

/** A JetStream client on a nats-server of this test. */
async function jetstreamOn (t: Test): Promise<{ js: JetStreamClient, jsm: JetStreamManager }> {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  return { js: jetstream(nc), jsm: await jetstreamManager(nc) }
}

t.test('follows a stream from the caller\'s position; a failed pass resumes after the last message handled; stop ends it', async t => {
  const { js, jsm } = await jetstreamOn(t)
  await jsm.streams.add({ name: 'ORDERED', subjects: ['ordered.>'] })
  for (let i = 1; i <= 5; i++) await js.publish(`ordered.${i % 2 === 0 ? 'even' : 'odd'}`, String(i))

  const handled: number[] = []
  const starts: Array<{ after: number, pending: number }> = []
  const errors: string[] = []
  let ends = 0
  let failOnce = true
  let after = 1 // the caller already has sequence 1
  const follower = new OrderedFollower({
    js,
    stream: 'ORDERED',
    resumeAfter: () => after,
    onStart: pending => { starts.push({ after, pending }) },
    onMessage: (m: JsMsg) => {
      if (m.seq === 4 && failOnce) {
        failOnce = false
        throw new Error('the handler failed on 4')
      }
      handled.push(m.seq)
      after = m.seq
    },
    onEnd: () => { ends++ },
    onError: err => { errors.push((err as Error).message); return true }
  })
  follower.start()
  await until('the stream is read', () => handled.length === 4 ? true : undefined)
  t.same(handled, [2, 3, 4, 5], 'each once, in order, from after the caller\'s position, the failed one again')
  t.same(errors, ['the handler failed on 4'])
  t.same(starts, [{ after: 1, pending: 4 }, { after: 3, pending: 2 }], 'the second pass resumed after the last message handled')

  await js.publish('ordered.live', '6')
  await until('a live message', () => handled.length === 5 ? true : undefined)
  t.equal(handled[4], 6)

  // restart(): the pass ends (onEnd) and the next resumes where the caller stands
  follower.restart()
  await until('a third pass', () => starts.length === 3 ? true : undefined)
  t.same(starts[2], { after: 6, pending: 0 })
  t.equal(ends, 1)

  await follower.stop()
  t.equal(ends, 2, 'a stop ends the pass through onEnd')
  await js.publish('ordered.after', '7')
  await js.publish('ordered.after', '8')
  // nothing runs after a stop: read what is there with another follower to know the server has it
  const seen: number[] = []
  const witness = new OrderedFollower({ js, stream: 'ORDERED', resumeAfter: () => 6, onMessage: m => { seen.push(m.seq) }, onError: () => false })
  witness.start()
  await until('the witness read 7 and 8', () => seen.length === 2 ? true : undefined)
  await witness.stop()
  t.same(handled, [2, 3, 4, 5, 6], 'the stopped follower read nothing more')
  t.equal(starts.length, 3)
})

t.test('a stream that is not there yet: the follower keeps trying (after its backoff) and reads it once it is made', async t => {
  const { js, jsm } = await jetstreamOn(t)
  const errors: unknown[] = []
  const handled: string[] = []
  const follower = new OrderedFollower({
    js,
    stream: 'LATER',
    filter: 'later.kept',
    resumeAfter: () => 0,
    onMessage: m => { handled.push(m.string()) },
    onError: err => { errors.push(err); return false }
  })
  follower.start()
  t.teardown(async () => { await follower.stop() })
  await until('a pass failed', () => errors.length > 0 ? true : undefined)
  await jsm.streams.add({ name: 'LATER', subjects: ['later.>'] })
  await js.publish('later.other', 'not for it')
  await js.publish('later.kept', 'for it')
  await until('the message', () => handled.length > 0 ? true : undefined)
  t.same(handled, ['for it'], 'its filter holds')
})
