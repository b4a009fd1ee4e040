import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream'
import { decodeEvent, type StoredEvent } from './events.js'
import { ORDERED_PULL } from './ordered.js'

// Reading what a stream holds on a subject, in the two ways Jetway needs:
// - walkSubject: the messages after a sequence, one STREAM.MSG.GET each. MSG.GET (unlike a
//   direct get) is answered by the stream leader, so on a replicated stream a replay never
//   reads a lagging replica. For gaps (SSE replay) and small listings.
// - readSubject: every message of one subject in one pass, through an ordered consumer, for
//   loading an aggregate (a meeting, a task) without one round trip per event.

/** Stored messages on `filter` after `afterSeq`, up to `toSeq` (default: the end), read from the leader. */
export async function * walkSubject (jsm: JetStreamManager, stream: string, filter: string, afterSeq = 0, toSeq = Number.MAX_SAFE_INTEGER): AsyncGenerator<StoredMsg> {
  let seq = afterSeq + 1
  while (seq <= toSeq) {
    // next_by_subj is part of the MSG.GET request since nats-server 2.9; nats.js types it for direct gets only
    const m = await jsm.streams.getMessage(stream, { seq, next_by_subj: filter } as unknown as MsgRequest)
    if (m === null || m.seq > toSeq) return
    yield m
    seq = m.seq + 1
  }
}

/** The last message stored on a subject, from the leader; null when there is none. */
export async function lastOnSubject (jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  return await jsm.streams.getMessage(stream, { last_by_subj: subject })
}

/**
 * Every event of one subject, oldest first, up to `toSeq` (default: all it holds now): one
 * look-up of the subject's last sequence, then one ordered consumer that streams the rest.
 */
export async function readSubject (js: JetStreamClient, jsm: JetStreamManager, stream: string, subject: string, toSeq = Number.MAX_SAFE_INTEGER): Promise<StoredEvent[]> {
  const last = await lastOnSubject(jsm, stream, subject)
  if (last === null) return []
  const endSeq = Math.min(last.seq, toSeq)
  const events: StoredEvent[] = []
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All })
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

/** Folds a subject's events into a state: an aggregate, as of `toSeq`. */
export async function loadAggregate<S> (js: JetStreamClient, jsm: JetStreamManager, stream: string, subject: string, evolve: (state: S | undefined, ev: StoredEvent) => S | undefined, toSeq?: number): Promise<S | undefined> {
  let state: S | undefined
  for (const ev of await readSubject(js, jsm, stream, subject, toSeq)) state = evolve(state, ev)
  return state
}
