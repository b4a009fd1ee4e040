import { headers as natsHeaders } from '@nats-io/transport-node'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, decodeEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { MessageDeadLettered } from '../schema/events/dlq.js'
import { Subjects } from '../store/subjects.js'
import { walkSubject } from '../store/subject-reader.js'
import type { Clock } from '../lib/time.js'

// What `npm run dlq` shows and does: list the dead letters in stream DLQ, and put one back on
// its original subject (the worker then meets it again as a new message).

/** Set on a replayed dead letter: its DLQ sequence. A worker may treat a replay as "try again". */
export const REPLAY_HEADER = 'jetway-replay-of'

export interface DeadLetter extends MessageDeadLettered {
  dlqSeq: number
  time: string
  /** sequence of the replayed copy, if an operator replayed it */
  replayedAs?: number
}

export async function listDeadLetters (jsm: JetStreamManager): Promise<DeadLetter[]> {
  const out = new Map<number, DeadLetter>()
  for await (const m of walkSubject(jsm, 'DLQ', 'dlq.>')) {
    const ev = decodeEvent(m)
    if (isEvent(ev, Events.messageDeadLettered)) out.set(ev.seq, { ...ev.data, dlqSeq: ev.seq, time: ev.time })
    if (isEvent(ev, Events.messageReplayed)) {
      const letter = out.get(ev.data.dlqSeq)
      if (letter !== undefined) letter.replayedAs = ev.data.seq
    }
  }
  return [...out.values()]
}

export async function replayDeadLetter (js: JetStreamClient, jsm: JetStreamManager, dlqSeq: number, clock: Clock): Promise<{ subject: string, seq: number }> {
  const letter = (await listDeadLetters(jsm)).find(l => l.dlqSeq === dlqSeq)
  if (letter === undefined) throw new Error(`no dead letter at DLQ sequence ${dlqSeq}`)
  const h = natsHeaders()
  for (const [k, v] of Object.entries(letter.headers)) {
    if (!/^nats-/i.test(k)) h.set(k, v)
  }
  h.set(REPLAY_HEADER, String(dlqSeq))
  // a new Nats-Msg-Id: the original one may still be inside the duplicate window
  const ack = await js.publish(letter.subject, Buffer.from(letter.data, 'base64'), { headers: h, msgID: `replay:${dlqSeq}` })
  await appendEvent(js, {
    def: Events.messageReplayed,
    data: { dlqSeq, subject: letter.subject, seq: ack.seq },
    subject: Subjects.deadLetterReplayed,
    source: '/jetway/dlq',
    idempotencyKey: `replayed:${dlqSeq}`,
    time: clock.now()
  })
  return { subject: letter.subject, seq: ack.seq }
}
