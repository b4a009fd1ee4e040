import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { OutboundResponse } from '../lib/outbound.js'
import { appendEvent } from '../store/events.js'
import { loadState } from '../store/command.js'
import { Subjects } from '../store/subjects.js'
import { Events, type EventData, type EventDefinition } from '../schema/events/index.js'
import type { StoredResponse } from '../schema/events/relay.js'
import { bodyText, callbackPayloadOf, callbackWebhookId, evolveRelay, storedResponse, withJsonType, type RelayState } from '../domain/relay.js'
import type { DeliveryRetry } from '../domain/delivery.js'
import { performAttempt, type AttemptDeps } from './outbound-attempt.js'

// /sync (src/api/relay.ts) makes its one call with the same timed call
export { isResponse, timedCall } from './outbound-attempt.js'

// The effects of an /async request, shared by the relay-delivery worker (first attempts) and
// the relay-timers worker (retries, when their durable timer fires): one call to the target or
// to the callback URL, and the one event that records how it went. Every attempt re-checks the
// request's state first, so a redelivered message or a late timer does nothing twice.

export interface RelayDeps extends AttemptDeps {
  log: Logger
  relay: Config['relay']
  /** WEBHOOK_SECRET: callbacks and trigger deliveries are signed when there is one */
  webhookSecret: string | undefined
}

/** The consumer whose message a dead-lettered /async request is: its relay.requested. */
export const RELAY_DELIVERY = 'relay-delivery'

export async function loadRelay (deps: Pick<RelayDeps, 'js' | 'jsm'>, requestId: string): Promise<RelayState | undefined> {
  return (await loadState(deps, { stream: 'RELAY', subject: Subjects.relayRequest, evolve: evolveRelay }, requestId)).state
}

async function record<D extends EventDefinition> (deps: RelayDeps, def: D, data: EventData<D>, requestId: string, key: string, causationId: string | undefined): Promise<void> {
  await appendEvent(deps.js, {
    def,
    data,
    subject: Subjects.relayRequest(requestId),
    source: '/jetway/workers/relay',
    about: requestId,
    idempotencyKey: key,
    causationId,
    time: deps.clock.now()
  })
}

/** The retries of a request's round: its delivery policy, the peer's Retry-After capped by RELAY_MAX_RETRY_AFTER. */
function policyOf (deps: RelayDeps, state: RelayState): DeliveryRetry {
  return { ...state.request.delivery, maxRetryAfterMs: deps.relay.maxRetryAfterMs }
}

/**
 * Attempt `attempt` of the current round on the target: POST with the request's headers and
 * JSON body, then relay.delivered, relay.attempt.failed (with the next attempt's due time, a
 * durable timer), or relay.failed (permanent; or retries exhausted, after the dead letter).
 */
export async function attemptTarget (deps: RelayDeps, state: RelayState, attempt: number, causationId?: string): Promise<void> {
  const { request: req, round, requestId } = state
  const body = bodyText(req.body)
  const headers = withJsonType(req.headers, body)
  const names = new Set(Object.keys(headers).map(h => h.toLowerCase()))
  // an idempotency key derived from the request, so a target that dedupes sees one request per round
  if (!names.has('idempotency-key')) headers['idempotency-key'] = `relay-${requestId}-${round}`
  headers['jetway-request-id'] = requestId
  const fields = { requestId, round, attempt }
  const key = `relay:${requestId}:${round}:${attempt}`
  const stored = (res: OutboundResponse): StoredResponse => storedResponse(res, deps.relay.maxStoredBody)
  await performAttempt(deps, {
    request: { method: 'POST', url: req.url, headers, body, timeoutMs: req.delivery.timeoutMs },
    attempt,
    policy: policyOf(deps, state),
    // an exhausted round keeps its relay.requested in DLQ, for a replay (a new round)
    deadLetter: { stream: 'RELAY', consumer: RELAY_DELIVERY, seq: round, on: 'exhausted' },
    record: {
      delivered: async (timing, res) => {
        await record(deps, Events.relayDelivered, { ...fields, ...timing, response: stored(res) }, requestId, key, causationId)
      },
      retrying: async ({ failure }, next) => {
        await record(deps, Events.relayAttemptFailed, { ...fields, ...failure, ...next }, requestId, key, causationId)
        deps.log.info({ requestId, attempt, ...failure, nextAttemptAt: next.nextAttemptAt }, 'relay attempt failed; will retry')
      },
      gaveUp: async ({ failure, response }, { because, dlqSeq }) => {
        await record(deps, Events.relayFailed, {
          ...fields, ...failure, reason: because, ...(response === undefined ? {} : { response: stored(response) }), ...(dlqSeq === undefined ? {} : { dlqSeq })
        }, requestId, key, causationId)
        deps.log.warn({ requestId, attempt, reason: because, dlqSeq, ...failure }, 'relay request failed')
      }
    }
  })
}

/**
 * Attempt `attempt` of the round's callback: POST the outcome, signed (Standard Webhooks, one
 * webhook-id per round), then relay.callback.sent or relay.callback.failed (final: no more).
 */
export async function attemptCallback (deps: RelayDeps, state: RelayState, attempt: number, causationId?: string): Promise<void> {
  const { requestId, round } = state
  const url = state.callback.url
  if (url === undefined) return
  const webhookId = callbackWebhookId(requestId, round)
  const fields = { requestId, round, url, attempt }
  const key = `relay-callback:${requestId}:${round}:${attempt}`
  await performAttempt(deps, {
    request: {
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'jetway-request-id': requestId },
      body: JSON.stringify(callbackPayloadOf(state)),
      timeoutMs: state.request.delivery.timeoutMs,
      ...(deps.webhookSecret === undefined ? {} : { webhook: { id: webhookId } })
    },
    attempt,
    policy: policyOf(deps, state),
    record: {
      delivered: async (timing, res) => {
        await record(deps, Events.relayCallbackSent, { ...fields, ...timing, status: res.status, webhookId }, requestId, key, causationId)
      },
      retrying: async ({ failure }, next) => {
        await record(deps, Events.relayCallbackFailed, { ...fields, ...failure, ...next, final: false }, requestId, key, causationId)
      },
      gaveUp: async ({ failure }) => {
        await record(deps, Events.relayCallbackFailed, { ...fields, ...failure, final: true }, requestId, key, causationId)
        deps.log.warn({ requestId, url, attempt, ...failure }, 'relay callback failed for good')
      }
    }
  })
}
