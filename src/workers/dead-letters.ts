import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
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

/** A message a worker gives up on, as DLQ keeps it: whole, with why and after how many attempts. */
export interface Letter {
  stream: string
  /** the consumer (worker, trigger) that gave up: a replay is meant for it */
  consumer: string
  message: { seq: number, subject: string, headers?: MsgHdrs | undefined, data: Uint8Array }
  error: string
  deliveries: number
  /** told apart from other letters of the same message (the same message given up twice) */
  key?: string
}

/**
 * Appends the dlq.message.deadlettered of a message: the one envelope every dead letter has,
 * whether a worker's runner, the relay or a task callback gives up. Idempotent per (stream,
 * consumer, seq, key). Resolves with the DLQ sequence.
 */
export async function deadLetter (js: JetStreamClient, letter: Letter, clock: Clock): Promise<number> {
  const { stream, consumer, message: m } = letter
  const headers: Record<string, string> = {}
  for (const [k, v] of m.headers ?? []) if (v[0] !== undefined) headers[k] = v[0]
  const appended = await appendEvent(js, {
    def: Events.messageDeadLettered,
    data: { stream, consumer, seq: m.seq, subject: m.subject, headers, data: Buffer.from(m.data).toString('base64'), error: letter.error.slice(0, 2000), deliveries: letter.deliveries },
    subject: Subjects.deadLetter(stream, consumer),
    source: `/jetway/workers/${consumer}`,
    idempotencyKey: `dlq:${stream}:${consumer}:${m.seq}${letter.key === undefined ? '' : `:${letter.key}`}`,
    causationId: headers['ce-id'],
    time: clock.now()
  })
  return appended.seq
}

/**
 * Dead-letters the message at `seq` of `stream`, read back from the stream: for effects whose
 * retries are durable timers, which never exhaust a consumer's deliveries.
 */
export async function deadLetterStored (js: JetStreamClient, jsm: JetStreamManager, letter: Omit<Letter, 'message'> & { seq: number, clock: Clock }): Promise<number> {
  const m = await jsm.streams.getMessage(letter.stream, { seq: letter.seq })
  if (m === null) throw new Error(`${letter.stream} holds no message ${letter.seq} to dead-letter`)
  const { seq: _seq, clock, ...rest } = letter
  return await deadLetter(js, { ...rest, message: { seq: m.seq, subject: m.subject, headers: m.header, data: m.data } }, clock)
}

/** The dead letter at a DLQ sequence, if there is one. */
export async function deadLetterAt (jsm: JetStreamManager, dlqSeq: number): Promise<MessageDeadLettered | undefined> {
  const m = await jsm.streams.getMessage('DLQ', { seq: dlqSeq }).catch(() => null)
  if (m === null) return undefined
  const ev = decodeEvent(m)
  return isEvent(ev, Events.messageDeadLettered) ? ev.data : undefined
}
