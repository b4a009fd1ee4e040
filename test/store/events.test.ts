import t from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { appendEvent, decodeEvent, keyOf } from '../../src/store/events.js'
import { headers as natsHeaders } from '@nats-io/transport-node'
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

t.test('the compact form writes only what differs from the defaults; the full form of older events still decodes', async t => {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'COLLECT', subjects: ['collect.>'] })
  await jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] })
  const js = jetstream(nc)
  const time = new Date('2030-01-02T03:04:05.678Z')
  const data = { event_id: 'e-1', user_id: 'u', event: 'view', event_datetime: '2030-01-02T03:04:05.678000Z', parameters: null, received_at: '2030-01-02T03:04:05.678000Z' }
  const keys = async (stream: string, seq: number): Promise<string[]> => [...(await jsm.streams.getMessage(stream, { seq }))!.header.keys()].sort()

  // COLLECT's own type and source are its defaults: not written
  const compact = await appendEvent(js, { def: Events.collectEventReceived, data, subject: 'collect.user.u.view', source: '/jetway/collect', about: 'u', idempotencyKey: keyOf('collect', 'u', 'e-1'), time })
  t.same(await keys('COLLECT', compact.seq), ['Nats-Msg-Id', 'ce-id', 'ce-subject', 'ce-time'])
  t.match(decodeEvent((await jsm.streams.getMessage('COLLECT', { seq: compact.seq }))!), { type: 'collect.event.received', version: 1, source: '/jetway/collect', about: 'u', time: '2030-01-02T03:04:05.678Z', data })
  t.match(keyOf('collect', 'u', 'e-1'), /^collect:[A-Za-z0-9_-]{22}$/)
  // another source on COLLECT is written; on another stream type and source are written; v2 names its schema
  const other = await appendEvent(js, { def: Events.collectEventReceived, data, subject: 'collect.user.u.view', source: '/elsewhere', time })
  t.same(await keys('COLLECT', other.seq), ['ce-id', 'ce-source', 'ce-time'])
  t.equal(decodeEvent((await jsm.streams.getMessage('COLLECT', { seq: other.seq }))!).source, '/elsewhere')
  const v2 = Object.values(Events).find(d => d.version === 2)!
  const elsewhere = await appendEvent(js, { def: v2, data: {} as never, subject: 'other.x', source: '/jetway/x', time })
  t.same(await keys('OTHER', elsewhere.seq), ['ce-dataschema', 'ce-id', 'ce-source', 'ce-time', 'ce-type'])
  t.match(decodeEvent((await jsm.streams.getMessage('OTHER', { seq: elsewhere.seq }))!), { type: v2.type, version: 2, source: '/jetway/x' })

  // an event stored before the compact form, every header written, reads as it did
  const h = natsHeaders()
  for (const [k, v] of Object.entries({
    'ce-specversion': '1.0',
    'ce-id': '38bee34a-2e0f-4564-bc60-2060ac1c12c0',
    'ce-source': '/jetway/collect',
    'ce-type': 'collect.event.received',
    'ce-time': '2026-12-07T21:51:49.590Z',
    'ce-dataschema': 'jetway:collect.event.received:v1',
    'content-type': 'application/json',
    'ce-subject': 'u1',
    'ce-correlationid': 'a33bea57-1ccf-4ed2-ab50-39fd49e427e1'
  })) h.set(k, v)
  const old = await js.publish('collect.user.u1.view', JSON.stringify(data), { headers: h, msgID: 'collect:MQXTrV4q6zxCOBeCo7CzMNM_cZ7BcbSvyhHVBzeAO3Y' })
  const stored = (await jsm.streams.getMessage('COLLECT', { seq: old.seq }))!
  const expected = { seq: old.seq, id: '38bee34a-2e0f-4564-bc60-2060ac1c12c0', type: 'collect.event.received', version: 1, source: '/jetway/collect', time: '2026-12-07T21:51:49.590Z', about: 'u1', correlationId: 'a33bea57-1ccf-4ed2-ab50-39fd49e427e1', data }
  t.match(decodeEvent(stored), expected, 'directly fetched')
  const consumer = await js.consumers.get('COLLECT', { opt_start_seq: old.seq, deliver_policy: 'by_start_sequence' as never })
  for await (const m of await consumer.fetch({ max_messages: 1, expires: 2000 })) t.match(decodeEvent(m), expected, 'consumed')
})
