import { isEvent, type StoredEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { BodyEncoding, RelayRequested, StoredResponse } from '../schema/events/relay.js'
import { MAX_JSON_DEPTH, textNestsDeeperThan } from '../lib/json-nesting.js'

// The relay's pure rules: where a request goes, where its outcome goes, how a response is
// kept in an event, and the state of an /async request folded from its events (what the
// workers re-check and GET /async/{id} shows). When to retry is src/domain/delivery.ts's.

/** targetURL + targetAPI, as the seed concatenates them (one slash where both have one). */
export function targetUrlOf (targetURL: string, targetAPI: string): string {
  if (targetAPI === '') return targetURL
  if (targetURL.endsWith('/') && targetAPI.startsWith('/')) return targetURL + targetAPI.slice(1)
  if (!targetURL.endsWith('/') && !targetAPI.startsWith('/') && !targetAPI.startsWith('?')) return `${targetURL}/${targetAPI}`
  return targetURL + targetAPI
}

/** An absolute http(s) URL, or a message saying why not. */
export function checkHttpUrl (url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'must be an absolute http:// or https:// URL'
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http:// or https:// URL'
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials (send an Authorization header)'
  return undefined
}

/**
 * Where the outcome of an /async request goes, from its body: `callback_uri`, or
 * `callback-url` + `callback-api` (both spellings appear in the seed). Undefined: no callback.
 */
export function callbackUrlOf (body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const b = body as Record<string, unknown>
  if (typeof b.callback_uri === 'string' && b.callback_uri !== '') return b.callback_uri
  if (typeof b['callback-url'] === 'string' && b['callback-url'] !== '') {
    return targetUrlOf(b['callback-url'], typeof b['callback-api'] === 'string' ? b['callback-api'] : '')
  }
  return undefined
}

/** A request body as sent: JSON text of the seed's `body`; undefined when there is none. */
export function bodyText (body: unknown): string | undefined {
  return body === undefined ? undefined : JSON.stringify(body)
}

/** Headers to send with a JSON body: the client's, plus content-type when it named none. */
export function withJsonType (headers: Record<string, string>, body: string | undefined): Record<string, string> {
  if (body === undefined || Object.keys(headers).some(h => h.toLowerCase() === 'content-type')) return { ...headers }
  return { ...headers, 'content-type': 'application/json' }
}

function isJsonType (contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

function isTextType (contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return type.startsWith('text/') || isJsonType(type) || type === 'application/xml' || type.endsWith('+xml') || type === 'application/x-www-form-urlencoded'
}

/** A body as an event keeps it: JSON parsed, text as text, anything else base64, cut at `max` bytes. */
export function storeBody (bytes: Buffer, contentType: string | undefined, max: number): { body: unknown, bodyEncoding: BodyEncoding, bodyBytes: number, bodyTruncated: boolean } {
  if (bytes.length === 0) return { body: null, bodyEncoding: 'none', bodyBytes: 0, bodyTruncated: false }
  const truncated = bytes.length > max
  const kept = truncated ? bytes.subarray(0, max) : bytes
  // (JSON nested past the bound every outside JSON meets is kept as text: it could not be stored)
  if (!truncated && isJsonType(contentType) && !textNestsDeeperThan(kept, MAX_JSON_DEPTH)) {
    try {
      return { body: JSON.parse(kept.toString('utf8')), bodyEncoding: 'json', bodyBytes: bytes.length, bodyTruncated: false }
    } catch {}
  }
  const text = kept.toString('utf8')
  if ((isTextType(contentType) || contentType === undefined) && !text.includes('\uFFFD')) {
    return { body: text, bodyEncoding: 'text', bodyBytes: bytes.length, bodyTruncated: truncated }
  }
  return { body: kept.toString('base64'), bodyEncoding: 'base64', bodyBytes: bytes.length, bodyTruncated: truncated }
}

export function storedResponse (res: { status: number, headers: Record<string, string>, body: Buffer }, max: number): StoredResponse {
  return { status: res.status, headers: res.headers, ...storeBody(res.body, res.headers['content-type'], max) }
}

// --- an /async request's state ---------------------------------------------------------------

export type RelayStatus = 'pending' | 'delivered' | 'failed' | 'dead-lettered'
export type CallbackStatus = 'none' | 'pending' | 'sent' | 'failed'

export interface AttemptRecord {
  /** the target, or the callback URL */
  to: 'target' | 'callback'
  round: number
  attempt: number
  at: string
  durationMs: number
  status?: number
  code?: string
  error?: string
  nextAttemptAt?: string
}

export interface RelayState {
  requestId: string
  request: RelayRequested
  /** stream sequence of the relay.requested that started the current round (a replay starts another) */
  round: number
  rounds: number
  status: RelayStatus
  /** attempts made in the current round */
  roundAttempts: number
  /** when the next attempt is due (a durable timer), while pending */
  nextAttemptAt?: string
  attempts: AttemptRecord[]
  response?: StoredResponse
  error?: { code?: string, message: string }
  dlqSeq?: number
  callback: {
    url?: string
    status: CallbackStatus
    roundAttempts: number
    nextAttemptAt?: string
    lastError?: string
    webhookId?: string
  }
  /** stream sequence of the request's last event */
  version: number
  updatedAt: string
}

function attemptOf (to: AttemptRecord['to'], d: { round: number, attempt: number, at: string, durationMs: number, status?: number, code?: string, error?: string, nextAttemptAt?: string }): AttemptRecord {
  const r: AttemptRecord = { to, round: d.round, attempt: d.attempt, at: d.at, durationMs: d.durationMs }
  if (d.status !== undefined) r.status = d.status
  if (d.code !== undefined) r.code = d.code
  if (d.error !== undefined) r.error = d.error
  if (d.nextAttemptAt !== undefined) r.nextAttemptAt = d.nextAttemptAt
  return r
}

/** Folds one event of relay.requests.<id> into the request's state. Pure. */
export function evolveRelay (state: RelayState | undefined, ev: StoredEvent): RelayState | undefined {
  if (isEvent(ev, Events.relayRequested)) {
    const base = {
      requestId: ev.data.requestId,
      request: ev.data,
      round: ev.seq,
      rounds: (state?.rounds ?? 0) + 1,
      status: 'pending' as const,
      roundAttempts: 0,
      attempts: state?.attempts ?? [],
      callback: { ...(ev.data.callbackUrl === undefined ? {} : { url: ev.data.callbackUrl }), status: 'none' as const, roundAttempts: 0 },
      version: ev.seq,
      updatedAt: ev.time
    }
    return base
  }
  if (state === undefined) return undefined
  const next: RelayState = { ...state, version: ev.seq, updatedAt: ev.time }
  if (isEvent(ev, Events.relayAttemptFailed)) {
    if (ev.data.round !== state.round) return next
    next.attempts = [...state.attempts, attemptOf('target', ev.data)]
    next.roundAttempts = ev.data.attempt
    next.nextAttemptAt = ev.data.nextAttemptAt
    next.error = { ...(ev.data.code === undefined ? {} : { code: ev.data.code }), message: ev.data.error }
    return next
  }
  if (isEvent(ev, Events.relayDelivered)) {
    if (ev.data.round !== state.round) return next
    next.attempts = [...state.attempts, attemptOf('target', { ...ev.data, status: ev.data.response.status })]
    next.roundAttempts = ev.data.attempt
    next.status = 'delivered'
    next.response = ev.data.response
    delete next.nextAttemptAt
    delete next.error
    delete next.dlqSeq
    next.callback = { ...state.callback, status: state.callback.url === undefined ? 'none' : 'pending', roundAttempts: 0 }
    return next
  }
  if (isEvent(ev, Events.relayFailed)) {
    if (ev.data.round !== state.round) return next
    next.attempts = [...state.attempts, attemptOf('target', ev.data)]
    next.roundAttempts = ev.data.attempt
    next.status = ev.data.reason === 'exhausted' ? 'dead-lettered' : 'failed'
    next.error = { ...(ev.data.code === undefined ? {} : { code: ev.data.code }), message: ev.data.error }
    if (ev.data.response !== undefined) next.response = ev.data.response
    else delete next.response
    if (ev.data.dlqSeq !== undefined) next.dlqSeq = ev.data.dlqSeq
    delete next.nextAttemptAt
    next.callback = { ...state.callback, status: state.callback.url === undefined ? 'none' : 'pending', roundAttempts: 0 }
    return next
  }
  if (isEvent(ev, Events.relayCallbackFailed)) {
    if (ev.data.round !== state.round) return next
    next.attempts = [...state.attempts, attemptOf('callback', ev.data)]
    next.callback = { ...state.callback, roundAttempts: ev.data.attempt, lastError: ev.data.error, status: ev.data.final ? 'failed' : 'pending' }
    if (ev.data.nextAttemptAt !== undefined) next.callback.nextAttemptAt = ev.data.nextAttemptAt
    else delete next.callback.nextAttemptAt
    return next
  }
  if (isEvent(ev, Events.relayCallbackSent)) {
    if (ev.data.round !== state.round) return next
    next.attempts = [...state.attempts, attemptOf('callback', ev.data)]
    next.callback = { ...state.callback, roundAttempts: ev.data.attempt, status: 'sent', webhookId: ev.data.webhookId }
    delete next.callback.nextAttemptAt
    return next
  }
  return state
}

/** The body POSTed to a request's callback URL: the seed's outcome, {requestId, status, headers, body, attempts}. */
export interface CallbackPayload {
  requestId: string
  /** delivered, failed (permanently) or dead-lettered (retries exhausted) */
  outcome: Exclude<RelayStatus, 'pending'>
  /** the target's last answer status; null when it never answered */
  status: number | null
  headers: Record<string, string>
  body: unknown
  /** attempts made on the target in this round */
  attempts: number
  bodyEncoding?: BodyEncoding
  bodyTruncated?: true
  error?: { code?: string, message: string }
}

export function callbackPayloadOf (state: RelayState): CallbackPayload {
  const res = state.response
  const payload: CallbackPayload = {
    requestId: state.requestId,
    outcome: state.status === 'pending' ? 'failed' : state.status,
    status: res?.status ?? null,
    headers: res?.headers ?? {},
    body: res?.body ?? null,
    attempts: state.roundAttempts
  }
  if (res !== undefined && res.bodyEncoding !== 'json' && res.bodyEncoding !== 'none') payload.bodyEncoding = res.bodyEncoding
  if (res?.bodyTruncated === true) payload.bodyTruncated = true
  if (state.status !== 'delivered' && state.error !== undefined) payload.error = state.error
  return payload
}

/** webhook-id of a request's callback: the same for every attempt of one round. */
export function callbackWebhookId (requestId: string, round: number): string {
  return `msg_relay_${requestId}_${round}`
}
