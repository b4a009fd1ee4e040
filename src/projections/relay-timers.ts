import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { RelayRetryPayload, TriggerRetryPayload } from '../schema/events/timers.js'
import { timerProjection, type TimerRules } from './timers.js'

/**
 * RELAY: retry backoff as durable timers. A failed attempt that may be retried (an /async
 * request's, its callback's, or a trigger delivery's) arms a timer at its nextAttemptAt; the
 * outcome of the delivery clears it. The effects are in src/workers/relay-timers.ts.
 */
export const relayTimerRules: TimerRules = {
  name: 'timers-relay',
  stream: 'RELAY',
  version: 1,
  changesOf (ev) {
    if (isEvent(ev, Events.relayAttemptFailed)) {
      const { requestId, round, attempt, nextAttemptAt } = ev.data
      const payload: RelayRetryPayload = { requestId, round, attempt: attempt + 1 }
      return [{ set: { timerId: `relay-retry:${requestId}:${round}:${attempt + 1}`, kind: 'relay-retry', dueAt: Date.parse(nextAttemptAt), payload, group: `relay:${requestId}` } }]
    }
    if (isEvent(ev, Events.relayDelivered) || isEvent(ev, Events.relayFailed)) return [{ clearGroup: `relay:${ev.data.requestId}` }]
    if (isEvent(ev, Events.relayCallbackFailed)) {
      const { requestId, round, attempt, nextAttemptAt } = ev.data
      if (nextAttemptAt === undefined) return [{ clearGroup: `relay-callback:${requestId}` }]
      const payload: RelayRetryPayload = { requestId, round, attempt: attempt + 1 }
      return [{ set: { timerId: `relay-callback-retry:${requestId}:${round}:${attempt + 1}`, kind: 'relay-callback-retry', dueAt: Date.parse(nextAttemptAt), payload, group: `relay-callback:${requestId}` } }]
    }
    if (isEvent(ev, Events.relayCallbackSent)) return [{ clearGroup: `relay-callback:${ev.data.requestId}` }]
    if (isEvent(ev, Events.triggerAttemptFailed)) {
      const { trigger, eventSeq, lane, attempt, nextAttemptAt } = ev.data
      const payload: TriggerRetryPayload = { trigger, eventSeq, lane, attempt: attempt + 1 }
      return [{ set: { timerId: `trigger-retry:${trigger}:${eventSeq}:${attempt + 1}`, kind: 'trigger-retry', dueAt: Date.parse(nextAttemptAt), payload, group: `trigger:${trigger}:${eventSeq}` } }]
    }
    if (isEvent(ev, Events.triggerDelivered) || isEvent(ev, Events.triggerDeadLettered)) return [{ clearGroup: `trigger:${ev.data.trigger}:${ev.data.eventSeq}` }]
    return []
  }
}
export const relayTimers = timerProjection(relayTimerRules)
