import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { RelayRetryPayload, TriggerRetryPayload } from '../schema/events/timers.js'
import type { Worker } from './worker.js'
import { attemptCallback, attemptTarget, loadRelay, type RelayDeps } from './relay-attempts.js'
import { retryTriggerDelivery } from './trigger-delivery.js'

const relayRetry = TypeCompiler.Compile(RelayRetryPayload)
const triggerRetry = TypeCompiler.Compile(TriggerRetryPayload)

/**
 * The effects of the relay's retry timers (durable consumer relay-timers on timer.relay.>):
 * the next attempt of an /async request, of its callback, or of a trigger's delivery, made only
 * if that attempt is still the one due (the request or delivery has not moved on meanwhile).
 */
export function relayTimersWorker (deps: RelayDeps): Worker {
  return {
    name: 'relay-timers',
    stream: 'RELAY',
    async handle (event) {
      if (!isEvent(event, Events.timerFired)) return
      const { kind, payload, timerId } = event.data
      if (kind === 'relay-retry' || kind === 'relay-callback-retry') {
        if (!relayRetry.Check(payload)) throw new Error(`${kind} timer ${timerId} carries no request`)
        const state = await loadRelay(deps, payload.requestId)
        if (state === undefined || state.round !== payload.round) return
        if (kind === 'relay-retry') {
          if (state.status === 'pending' && state.roundAttempts === payload.attempt - 1) await attemptTarget(deps, state, payload.attempt, event.id)
        } else if (state.callback.status === 'pending' && state.callback.roundAttempts === payload.attempt - 1) {
          await attemptCallback(deps, state, payload.attempt, event.id)
        }
        return
      }
      if (kind === 'trigger-retry') {
        if (!triggerRetry.Check(payload)) throw new Error(`trigger-retry timer ${timerId} carries no delivery`)
        await retryTriggerDelivery(deps, payload, event.id)
      }
    }
  }
}
