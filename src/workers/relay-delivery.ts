import { isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { Worker } from './worker.js'
import { attemptCallback, attemptTarget, loadRelay, RELAY_DELIVERY, type RelayDeps } from './relay-attempts.js'

/**
 * The relay delivery worker (durable consumer relay-delivery on relay.requests.>): the first
 * attempt of each round of an /async request (relay.requested), and the first callback of each
 * outcome (relay.delivered, relay.failed). Retries are not made here: a failed attempt records
 * its next due time, a durable timer, and the relay-timers worker makes it.
 */
export function relayDeliveryWorker (deps: RelayDeps): Worker {
  return {
    name: RELAY_DELIVERY,
    stream: 'RELAY',
    async handle (event) {
      if (isEvent(event, Events.relayRequested)) {
        const state = await loadRelay(deps, event.data.requestId)
        // a newer round (a replay) supersedes this one; a started round belongs to its timers
        if (state === undefined || state.round !== event.seq || state.status !== 'pending' || state.roundAttempts > 0) return
        await attemptTarget(deps, state, 1, event.id)
        return
      }
      if (isEvent(event, Events.relayDelivered) || isEvent(event, Events.relayFailed)) {
        const state = await loadRelay(deps, event.data.requestId)
        if (state === undefined || state.round !== event.data.round) return
        if (state.callback.url === undefined || state.callback.status !== 'pending' || state.callback.roundAttempts > 0) return
        await attemptCallback(deps, state, 1, event.id)
      }
    }
  }
}
