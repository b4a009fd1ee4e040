import t from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { appendEvent, decodeEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { natsServer } from '../fixtures/nats.js'

// The CloudEvents envelope in headers: what appendEvent writes, decodeEvent reads back whole,
// from a consumed message and from a direct get, awkward values included.

t.test('every envelope field round-trips through a stream, consumed or fetched directly', async t => {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'ENVELOPE', subjects: ['envelope.>'] })
  const js = jetstream(nc)
  const time = new Date('2030-01-02T03:04:05.678Z')
  const data = { event_id: 'e-1', user_id: 'ü ser', event: 'view', event_datetime: '2030-01-02T03:04:05.678000Z', parameters: { price: 1 }, received_at: '2030-01-02T03:04:05.678000Z' }
  const full = await appendEvent(js, {
    def: Events.collectEventReceived,
    data,
    subject: 'envelope.full',
    source: '/jetway/test',
    about: 'line\nbreak: ü 😀 %41',
    actor: 'actor\r\nwith CR/LF',
    correlationId: 'corr-1',
    causationId: 'cause-1',
    time
  })
  const bare = await appendEvent(js, { def: Events.collectEventReceived, data, subject: 'envelope.bare', source: '/jetway/test\r\nce-type: forged 100%', time })

  const expected = {
    seq: full.seq,
    natsSubject: 'envelope.full',
    type: 'collect.event.received',
    version: Events.collectEventReceived.version,
    source: '/jetway/test',
    time: '2030-01-02T03:04:05.678Z',
    about: 'line\nbreak: ü 😀 %41',
    actor: 'actor\r\nwith CR/LF',
    correlationId: 'corr-1',
    causationId: 'cause-1',
    data
  }
  const direct = decodeEvent((await jsm.streams.getMessage('ENVELOPE', { seq: full.seq }))!)
  t.match(direct, expected, 'from a direct get')
  t.match(direct.id, /.+/, 'an id')

  const consumer = await js.consumers.get('ENVELOPE')
  const consumed = []
  for await (const m of await consumer.fetch({ max_messages: 2, expires: 2000 })) consumed.push(decodeEvent(m))
  t.same(consumed[0], direct, 'a consumed message reads the same')
  t.match(consumed[1], { seq: bare.seq, natsSubject: 'envelope.bare', type: 'collect.event.received', source: '/jetway/test\r\nce-type: forged 100%', about: undefined, actor: undefined, correlationId: undefined, causationId: undefined, data })
})
