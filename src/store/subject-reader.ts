import type { JetStreamManager } from '@nats-io/jetstream'
import { decodeEvent } from './events.js'
import { evolve, type MeetingState } from '../domain/meeting.js'
import { Subjects } from './subjects.js'

/** A meeting as its events in MEETINGS say, up to `toSeq` (default: all), by direct gets. */
export async function loadMeeting (jsm: JetStreamManager, meetingId: string, toSeq = Number.MAX_SAFE_INTEGER): Promise<MeetingState | undefined> {
  let state: MeetingState | undefined
  let seq = 1
  while (true) {
    const m = await jsm.direct.getMessage('MEETINGS', { seq, next_by_subj: Subjects.meeting(meetingId) })
    if (m === null || m.seq > toSeq) return state
    state = evolve(state, decodeEvent(m))
    seq = m.seq + 1
  }
}
