import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream'
import { decodeEvent, type StoredEvent } from './events.js'
import { ORDERED_PULL } from './ordered.js'

// Reading what a stream holds on a subject, in the two ways Jetway needs:
// - walkSubject: the messages after a sequence, one STREAM.MSG.GET each. MSG.GET (unlike a
//   direct get) is answered by the stream leader, so on a replicated stream a replay never
//   reads a lagging replica. For gaps (SSE replay) and small listings.
// - readSubject: every message of one subject in one pass, for loading an aggregate (a meeting,
//   a task, a job): its first and last message by two MSG.GETs at once, and when there are more
//   between them, an ordered consumer that streams them without one round trip per event.

/** Stored messages on `filter` after `afterSeq`, up to `toSeq` (default: the end), read from the leader. */
export async function * walkSubject (jsm: JetStreamManager, stream: string, filter: string, afterSeq = 0, toSeq = Number.MAX_SAFE_INTEGER): AsyncGenerator<StoredMsg> {
  let seq = afterSeq + 1
  while (seq <= toSeq) {
    const m = await nextOnSubject(jsm, stream, filter, seq)
    if (m === null || m.seq > toSeq) return
    yield m
    seq = m.seq + 1
  }
}

/** The first message on a subject at or after `seq`, from the leader; null when there is none. */
async function nextOnSubject (jsm: JetStreamManager, stream: string, filter: string, seq: number): Promise<StoredMsg | null> {
  // next_by_subj is part of the MSG.GET request since nats-server 2.9; nats.js types it for direct gets only
  return await jsm.streams.getMessage(stream, { seq, next_by_subj: filter } as unknown as MsgRequest)
}

/** The last message stored on a subject, from the leader; null when there is none. */
export async function lastOnSubject (jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  return await jsm.streams.getMessage(stream, { last_by_subj: subject })
}

/**
 * Every event of one subject, oldest first, up to `toSeq` (default: all it holds now). Its first
 * and last message come from two look-ups at once: a subject of one event (a new task, a job's
 * request) is read in that one round trip; one of more streams the rest through an ordered
 * consumer from its first. `holdsOne`: the subject never holds more than one event (a job's
 * request), read by the one look-up of its last.
 */
export async function readSubject (js: JetStreamClient, jsm: JetStreamManager, stream: string, subject: string, toSeq = Number.MAX_SAFE_INTEGER, holdsOne = false): Promise<StoredEvent[]> {
  if (holdsOne) {
    const only = await lastOnSubject(jsm, stream, subject)
    return only === null || only.seq > toSeq ? [] : [decodeEvent(only)]
  }
  const [first, last] = await Promise.all([nextOnSubject(jsm, stream, subject, 1), lastOnSubject(jsm, stream, subject)])
  if (first === null || last === null) return []
  const endSeq = Math.min(last.seq, toSeq)
  if (first.seq > endSeq) return []
  if (first.seq === endSeq) return [decodeEvent(first)]
  const events: StoredEvent[] = []
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: first.seq })
  // (short pulls, as the long-lived readers use: a consumer lost with its node mid-read is made
  // anew after seconds, not after the default pull's 30 s of missed heartbeats)
  const messages = await consumer.consume({ max_messages: 256, ...ORDERED_PULL })
  try {
    for await (const m of messages) {
      if (m.seq > endSeq) break
      events.push(decodeEvent(m))
      if (m.seq === endSeq) break
    }
  } finally {
    messages.stop()
  }
  return events
}
