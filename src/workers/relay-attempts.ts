import { performance } from 'node:perf_hooks'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { classify, OutboundError, type Outbound, type OutboundResponse, type RetryDecision } from '../lib/outbound.js'
import type { Clock } from '../lib/time.js'
import { appendEvent } from '../store/events.js'
import { loadState } from '../store/command.js'
import { Subjects } from '../store/subjects.js'
import { Events, type EventData, type EventDefinition } from '../schema/events/index.js'
import {
  bodyText, callbackPayloadOf, callbackWebhookId, evolveRelay, mayRetry, nextDelayMs, storedResponse, withJsonType, type RelayState
} from '../domain/relay.js'
import { deadLetterStored } from './dead-letters.js'

// The effects of an /async request, shared by the relay-delivery worker (first attempts) and
// the relay-timers worker (retries, when their durable timer fires): one call to the target or
// to the callback URL, and the one event that records how it went. Every attempt re-checks the
// request's state first, so a redelivered message or a late timer does nothing twice.

export interface RelayDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  log: Logger
  outbound: Outbound
  relay: Config['relay']
  /** WEBHOOK_SECRET: callbacks and trigger deliveries are signed when there is one */
  webhookSecret: string | undefined
}

/** The consumer whose message a dead-lettered /async request is: its relay.requested. */
export const RELAY_DELIVERY = 'relay-delivery'

export async function loadRelay (deps: Pick<RelayDeps, 'js' | 'jsm'>, requestId: string): Promise<RelayState | undefined> {
  return (await loadState(deps, { stream: 'RELAY', subject: Subjects.relayRequest, evolve: evolveRelay }, requestId)).state
}

/** One outbound call, timed: its response, or the OutboundError it failed with. */
export async function timedCall (outbound: Outbound, req: Parameters<Outbound['request']>[0]): Promise<{ outcome: OutboundResponse | unknown, durationMs: number }> {
  const started = performance.now()
  let outcome: OutboundResponse | unknown
  try {
    outcome = await outbound.request(req)
  } catch (err) {
    outcome = err
  }
  return { outcome, durationMs: Math.round(performance.now() - started) }
}

export function isResponse (outcome: unknown): outcome is OutboundResponse {
  return typeof outcome === 'object' && outcome !== null && Buffer.isBuffer((outcome as OutboundResponse).body) && typeof (outcome as OutboundResponse).status === 'number'
}

/** status, code and error of a failed attempt, as events record them. */
export function failureOf (outcome: unknown, decision: RetryDecision): { status?: number, code?: string, error: string } {
  if (isResponse(outcome)) {
    const snippet = outcome.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim()
    return { status: outcome.status, error: `the target answered ${outcome.status}${snippet === '' ? '' : `: ${snippet}`}` }
  }
  if (outcome instanceof OutboundError) return { code: outcome.code, error: outcome.message.slice(0, 2000) }
  return { error: decision.reason.slice(0, 2000) }
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
  const at = deps.clock.now()
  const { outcome, durationMs } = await timedCall(deps.outbound, { method: 'POST', url: req.url, headers, body, timeoutMs: req.delivery.timeoutMs })
  const decision = classify(outcome, { maxRetryAfterMs: deps.relay.maxRetryAfterMs, now: () => deps.clock.now() })
  const base = { requestId, round, attempt, at: at.toISOString(), durationMs }
  const key = `relay:${requestId}:${round}:${attempt}`
  if (decision.kind === 'success' && isResponse(outcome)) {
    await record(deps, Events.relayDelivered, { ...base, response: storedResponse(outcome, deps.relay.maxStoredBody) }, requestId, key, causationId)
    return
  }
  const failure = failureOf(outcome, decision)
  if (decision.kind === 'retry' && mayRetry(req.delivery, attempt)) {
    const backoffMs = nextDelayMs(req.delivery, attempt, decision.retryAfterMs)
    const nextAttemptAt = new Date(deps.clock.now().getTime() + backoffMs).toISOString()
    await record(deps, Events.relayAttemptFailed, { ...base, ...failure, nextAttemptAt, backoffMs }, requestId, key, causationId)
    deps.log.info({ requestId, attempt, ...failure, nextAttemptAt }, 'relay attempt failed; will retry')
    return
  }
  const reason = decision.kind === 'retry' ? 'exhausted' : 'permanent'
  const dlqSeq = reason === 'exhausted'
    ? await deadLetterStored(deps.js, deps.jsm, { stream: 'RELAY', consumer: RELAY_DELIVERY, seq: round, error: failure.error, deliveries: attempt, clock: deps.clock })
    : undefined
  const response = isResponse(outcome) ? storedResponse(outcome, deps.relay.maxStoredBody) : undefined
  await record(deps, Events.relayFailed, {
    ...base, ...failure, reason, ...(response === undefined ? {} : { response }), ...(dlqSeq === undefined ? {} : { dlqSeq })
  }, requestId, key, causationId)
  deps.log.warn({ requestId, attempt, reason, dlqSeq, ...failure }, 'relay request failed')
}

/**
 * Attempt `attempt` of the round's callback: POST the outcome, signed (Standard Webhooks, one
 * webhook-id per round), then relay.callback.sent or relay.callback.failed.
 */
export async function attemptCallback (deps: RelayDeps, state: RelayState, attempt: number, causationId?: string): Promise<void> {
  const { requestId, round } = state
  const url = state.callback.url
  if (url === undefined) return
  const webhookId = callbackWebhookId(requestId, round)
  const body = JSON.stringify(callbackPayloadOf(state))
  const at = deps.clock.now()
  const { outcome, durationMs } = await timedCall(deps.outbound, {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', 'jetway-request-id': requestId },
    body,
    timeoutMs: state.request.delivery.timeoutMs,
    ...(deps.webhookSecret === undefined ? {} : { webhook: { id: webhookId } })
  })
  const decision = classify(outcome, { maxRetryAfterMs: deps.relay.maxRetryAfterMs, now: () => deps.clock.now() })
  const base = { requestId, round, url, attempt, at: at.toISOString(), durationMs }
  const key = `relay-callback:${requestId}:${round}:${attempt}`
  if (decision.kind === 'success' && isResponse(outcome)) {
    await record(deps, Events.relayCallbackSent, { ...base, status: outcome.status, webhookId }, requestId, key, causationId)
    return
  }
  const failure = failureOf(outcome, decision)
  if (decision.kind === 'retry' && mayRetry(state.request.delivery, attempt)) {
    const backoffMs = nextDelayMs(state.request.delivery, attempt, decision.retryAfterMs)
    const nextAttemptAt = new Date(deps.clock.now().getTime() + backoffMs).toISOString()
    await record(deps, Events.relayCallbackFailed, { ...base, ...failure, nextAttemptAt, backoffMs, final: false }, requestId, key, causationId)
    return
  }
  await record(deps, Events.relayCallbackFailed, { ...base, ...failure, final: true }, requestId, key, causationId)
  deps.log.warn({ requestId, url, attempt, ...failure }, 'relay callback failed for good')
}
