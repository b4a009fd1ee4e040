import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, isEvent } from './events.js'
import { SubjectParts } from './subjects.js'
import { StreamTail, type StreamTailOptions } from './tail.js'
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

export interface HubDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  log: Logger
}

/** A hub: a stream tail of the `api` role, its log lines named as such. */
export function hubOf<E> ({ js, jsm, log }: HubDeps, def: Pick<StreamTailOptions<E>, 'stream' | 'filter' | 'keysOf' | 'decode'>): StreamTail<E> {
  return new StreamTail<E>({ js, jsm, ...def, log: log.child({ component: 'hub', stream: def.stream }) })
}

/** The JOBS hub: every job.status.changed, keyed by `job:<eventId>` and `user:<userId>`. */
export function jobStatusHub (deps: HubDeps): StreamHub {
  return hubOf<HubEvent>(deps, {
    stream: 'JOBS',
    filter: 'jobs.status.>',
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
