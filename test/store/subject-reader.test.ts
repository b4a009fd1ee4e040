import t from 'tap'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { natsServer } from '../fixtures/nats.js'
import { appendEvent } from '../../src/store/events.js'
import { lastOnSubject, readSubject, walkSubject } from '../../src/store/subject-reader.js'
import { Events } from '../../src/schema/events/index.js'

// Reading a subject against a real nats-server 2.9: an aggregate in one pass (ordered
// consumer), a gap walked from the stream leader (MSG.GET with next_by_subj).

t.test('readSubject, walkSubject and lastOnSubject read exactly one subject, in order, within bounds', async t => {
  const nc = await connect({ servers: await natsServer(t) })
  t.teardown(async () => { await nc.close() })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await jsm.streams.add({ name: 'READ', subjects: ['read.>'] })
  const append = async (subject: string, seq: number) => await appendEvent(js, {
    def: Events.messageReplayed, data: { dlqSeq: seq, subject, seq }, subject, source: 'test', time: new Date()
  })
  const mine: number[] = []
  for (let i = 1; i <= 300; i++) {
    const a = await append(i % 3 === 0 ? 'read.mine' : `read.other.${i}`, i)
    if (i % 3 === 0) mine.push(a.seq)
  }

  const all = await readSubject(js, jsm, 'READ', 'read.mine')
  t.same(all.map(e => e.seq), mine, 'every event of the subject, oldest first, and no other')
  t.same(all.map(e => (e.data as { dlqSeq: number }).dlqSeq), mine.map(s => s), 'decoded')
  const upTo = await readSubject(js, jsm, 'READ', 'read.mine', mine[9]!)
  t.same(upTo.map(e => e.seq), mine.slice(0, 10), 'up to a sequence')
  t.same(await readSubject(js, jsm, 'READ', 'read.none'), [], 'an empty subject')
  t.same((await readSubject(js, jsm, 'READ', 'read.other.4')).map(e => e.seq), [4], 'a subject of one event (read in one round trip)')
  t.same(await readSubject(js, jsm, 'READ', 'read.mine', mine[0]! - 1), [], 'up to a sequence before its first')
  t.same((await readSubject(js, jsm, 'READ', 'read.mine', mine[0]!)).map(e => e.seq), [mine[0]], 'up to its first')

  const walked: number[] = []
  for await (const m of walkSubject(jsm, 'READ', 'read.mine', mine[4]!, mine[20]!)) walked.push(m.seq)
  t.same(walked, mine.slice(5, 21), 'a gap: after one sequence, up to another')
  t.equal((await lastOnSubject(jsm, 'READ', 'read.mine'))?.seq, mine.at(-1))
  t.equal(await lastOnSubject(jsm, 'READ', 'read.none'), null)
})
