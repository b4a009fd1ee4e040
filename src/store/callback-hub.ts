import { decodeEvent, isEvent } from './events.js'
import { hubOf, type HubDeps, type HubEvent, type StreamHub } from './hub.js'
import { SubjectParts, Subjects } from './subjects.js'
import { Events } from '../schema/events/index.js'
import type { CallbackReceived } from '../schema/events/relay.js'

/** A received callback as the API shows it (the list and the SSE data). */
export function callbackView (seq: number, c: CallbackReceived): Record<string, unknown> {
  return {
    seq,
    method: c.method,
    requestId: c.requestId ?? null,
    headers: c.headers,
    query: c.query,
    body: c.body,
    bodyEncoding: c.bodyEncoding,
    signature: c.signature,
    webhookId: c.webhookId ?? null,
    receivedAt: c.receivedAt
  }
}

/** The RELAY hub of /event/callback/sub: every relay.callback.received, keyed `all` and `request:<requestId>`. */
export function callbackHub (deps: HubDeps): StreamHub {
  return hubOf<HubEvent>(deps, {
    stream: 'RELAY',
    filter: Subjects.callbacks,
    keysOf: subject => {
      const requestId = SubjectParts.callbackReceived(subject)?.requestId
      return requestId === undefined ? ['all'] : ['all', `request:${requestId}`]
    },
    decode: msg => {
      const ev = decodeEvent(msg)
      return isEvent(ev, Events.callbackReceived) ? { seq: ev.seq, type: ev.type, data: JSON.stringify(callbackView(ev.seq, ev.data)) } : undefined
    }
  })
}
