import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, isEvent } from './events.js'
import { SubjectParts } from './subjects.js'
import { StreamTail } from './tail.js'
import { Events } from '../schema/events/index.js'

// The SSE hubs: stream tails (src/store/tail.ts) that run for the life of an `api` process and
// fan out by key to the single-stream SSE routes (src/api/http/sse.ts). This one is the JOBS
// hub; task-hub.ts and callback-hub.ts hold the others.

/** What a hub hands its listeners: an SSE event, its data line built once for every listener. */
export interface HubEvent {
  seq: number
  type: string
  /** the JSON text of the event's data */
  data: string
}

export type StreamHub = StreamTail<HubEvent>

/** The JOBS hub: every job.status.changed, keyed by `job:<eventId>` and `user:<userId>`. */
export function jobStatusHub (js: JetStreamClient, jsm: JetStreamManager, log: Logger): StreamHub {
  return new StreamTail<HubEvent>({
    js,
    jsm,
    stream: 'JOBS',
    filter: 'jobs.status.>',
    log: log.child({ component: 'hub', stream: 'JOBS' }),
    keysOf: subject => {
      const job = SubjectParts.jobStatus(subject)
      return job === undefined ? [] : [`job:${job.eventId}`, `user:${job.userId}`]
    },
    decode: msg => {
      const ev = decodeEvent(msg)
      return isEvent(ev, Events.jobStatusChanged) ? { seq: ev.seq, type: ev.type, data: JSON.stringify(ev.data) } : undefined
    }
  })
}
