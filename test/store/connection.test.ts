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

t.test('the nats.js patched by connection.ts is the copy the transport and JetStream client run', async t => {
  const { createRequire } = await import('node:module')
  const here = createRequire(import.meta.url)
  const patched = here.resolve('@nats-io/nats-core/internal')
  for (const client of ['@nats-io/transport-node', '@nats-io/jetstream']) {
    t.equal(createRequire(here.resolve(client)).resolve('@nats-io/nats-core/internal'), patched, client)
  }
})

t.test('publishes from many separate tasks all reach the server, in order per publisher', async t => {
  const nc = await connectNats(await natsServer(t), 'test')
  t.teardown(async () => { await nc.close() })
  const got: string[] = []
  const sub = nc.subscribe('order.>', { callback: (_err, msg) => { got.push(msg.string()) } })
  t.teardown(() => sub.unsubscribe())
  // each publish in its own macrotask, as HTTP requests are
  for (let i = 0; i < 500; i++) await new Promise<void>(resolve => setImmediate(() => { nc.publish(`order.${i % 5}`, String(i)); resolve() }))
  await nc.flush()
  t.same(got, Array.from({ length: 500 }, (_, i) => String(i)))
})
