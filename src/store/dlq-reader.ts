import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { decodeEvent, isEvent, typeOfHeaders } from './events.js'
import { Events } from '../schema/events/index.js'
import type { DeadLetterView } from '../schema/api/admin.js'

// The latest dead letters for the console: the end of stream DLQ read in one pass with an
// ordered consumer (not one MSG.GET per message, as `npm run dlq -- list` walks it all), each
// letter paired with its replay when an operator replayed it.

/** The end of DLQ read for a listing: letters older than this many DLQ messages are not shown. */
export const DLQ_WINDOW = 5000
const PREVIEW = 2048
const IDLE_MS = 2000

export async function recentDeadLetters (js: JetStreamClient, jsm: JetStreamManager, limit: number): Promise<DeadLetterView[]> {
  const state = (await jsm.streams.info('DLQ')).state
  if (state.messages === 0) return []
  const from = Math.max(state.first_seq, state.last_seq - DLQ_WINDOW + 1)
  const consumer = await js.consumers.get('DLQ', { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from })
  const messages = await consumer.consume({ max_messages: 256 })
  const letters = new Map<number, DeadLetterView>()
  let idle: NodeJS.Timeout | undefined
  const arm = (): void => { clearTimeout(idle); idle = setTimeout(() => { messages.stop() }, IDLE_MS) }
  arm()
  try {
    for await (const m of messages) {
      arm()
      let ev
      try {
        ev = decodeEvent(m)
      } catch {
        ev = undefined
      }
      if (ev !== undefined && isEvent(ev, Events.messageDeadLettered)) {
        const d = ev.data
        const body = Buffer.from(d.data, 'base64').toString('utf8')
        letters.set(ev.seq, {
          dlqSeq: ev.seq,
          time: ev.time,
          stream: d.stream,
          consumer: d.consumer,
          seq: d.seq,
          subject: d.subject,
          type: typeOfHeaders(d.subject, d.headers),
          deliveries: d.deliveries,
          error: d.error,
          preview: body.length > PREVIEW ? `${body.slice(0, PREVIEW)}…` : body,
          replayedAs: null
        })
      } else if (ev !== undefined && isEvent(ev, Events.messageReplayed)) {
        const letter = letters.get(ev.data.dlqSeq)
        if (letter !== undefined) letter.replayedAs = ev.data.seq
      }
      if (m.seq >= state.last_seq) break
    }
  } finally {
    clearTimeout(idle)
    messages.stop()
  }
  return [...letters.values()].reverse().slice(0, limit)
}
