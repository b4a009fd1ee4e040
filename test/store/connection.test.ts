import t from 'tap'
import { jetstream } from '@nats-io/jetstream'
import { RequestError, TimeoutError } from '@nats-io/nats-core'
import { natsServer } from '../fixtures/nats.js'
import { connectNats } from '../../src/store/connection.js'

// connection.ts changes how nats.js ends an answered request; requests must still answer,
// time out and fail exactly as before.

t.test('requests answer, time out and find no responders as nats.js says, after the cancel change', async t => {
  const nc = await connectNats(await natsServer(t), 'test')
  t.teardown(async () => { await nc.close() })
  const sub = nc.subscribe('echo', { callback: (_err, msg) => { msg.respond(msg.data) } })
  t.teardown(() => sub.unsubscribe())
  const answers = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await nc.request('echo', `m${i}`, { timeout: 5000 })).string()))
  t.same(answers, Array.from({ length: 200 }, (_, i) => `m${i}`), 'every answer, to its own request')

  nc.subscribe('silent', { callback: () => {} })
  await t.rejects(nc.request('silent', '', { timeout: 100 }), TimeoutError, 'no answer: a timeout')
  const none = await nc.request('nobody.listens', '', { timeout: 1000 }).catch((err: unknown) => err)
  t.ok(none instanceof RequestError && none.isNoResponders(), 'no subscriber: no responders')

  // JetStream publishes are requests too; a missing stream is still an error
  const js = jetstream(nc)
  await t.rejects(js.publish('no.stream.here', 'x', { timeout: 1000 }), 'a publish with no stream fails')
})
