import { HTTP, type CloudEvent } from 'cloudevents'
import type { OutboundRequest, OutboundResponse } from '../lib/outbound.js'
import { appendEvent, decodeEvent, isEvent, type StoredEvent } from '../store/events.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Subjects } from '../store/subjects.js'
import { appendBrokerEvent, fromCloudEventJson, toCloudEventJson } from '../store/broker.js'
import { Events, type EventData, type EventDefinition } from '../schema/events/index.js'
import type { CloudEventJson, TriggerCreated } from '../schema/events/relay.js'
import type { TriggerRetryPayload } from '../schema/events/timers.js'
import { checkHttpUrl, targetUrlOf, withJsonType } from '../domain/relay.js'
import { laneOf } from '../domain/triggers.js'
import { classifyOutcome } from '../domain/delivery.js'
import type { RelayDeps } from './relay-attempts.js'
import { isResponse, outcomeOf, performAttempt, timedCall, type FailedAttempt } from './outbound-attempt.js'

// One delivery attempt of a broker event to a trigger's subscriber, shared by the trigger's
// dispatcher (first attempts, in lane order) and the relay-timers worker (retries): the call,
// a reply published back into the broker, and the event that records the outcome on the
// trigger's lane (relay.deliveries.<trigger>.<lane>). A first-attempt success records nothing.

/** A broker event as a delivery needs it. */
export interface BrokerMessage {
  /** RELAY sequence */
  seq: number
  event: CloudEventJson
  /** when it entered the broker: knativearrivaltime */
  arrivedAt: string
  /** the envelope's ce-id, the causation of what the delivery appends */
  id: string
}

export function brokerMessageOf (ev: StoredEvent): BrokerMessage | undefined {
  if (!isEvent(ev, Events.brokerEventReceived)) return undefined
  return { seq: ev.seq, event: ev.data.event, arrivedAt: ev.time, id: ev.id }
}

export type DeliveryResult = 'delivered' | 'retrying' | 'deadlettered' | 'aborted'

/** webhook-id of a trigger's delivery of one event: the same on every attempt. */
export function deliveryWebhookId (trigger: string, eventSeq: number): string {
  return `msg_trigger_${trigger}_${eventSeq}`
}

/** The seed's receive-cloudevents: the data {targetURL, targetAPI, headers, body} as an HTTP call. */
export function relayCallOf (event: CloudEventJson): { url: string, headers: Record<string, string>, body: string } | string {
  let data = (event as { data?: unknown }).data
  if (typeof data === 'string') {
    try { data = JSON.parse(data) } catch {}
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'the event has no JSON object data {targetURL, targetAPI, headers, body}'
  const d = data as Record<string, unknown>
  const missing = ['targetURL', 'targetAPI', 'headers', 'body'].filter(k => d[k] === undefined || d[k] === null)
  if (missing.length > 0) return `the event's data lacks ${missing.join(', ')} (the relay needs {targetURL, targetAPI, headers, body})`
  if (typeof d.targetURL !== 'string' || typeof d.targetAPI !== 'string') return "the event's targetURL and targetAPI must be strings"
  if (typeof d.headers !== 'object' || Array.isArray(d.headers)) return "the event's headers must be an object"
  const url = targetUrlOf(d.targetURL, d.targetAPI)
  const bad = checkHttpUrl(url)
  if (bad !== undefined) return `targetURL + targetAPI ${bad}`
  const headers = Object.fromEntries(Object.entries(d.headers as Record<string, unknown>).map(([k, v]) => [k, String(v)]))
  const body = JSON.stringify(d.body)
  return { url, headers: withJsonType(headers, body), body }
}

function hasCloudEvent (res: OutboundResponse): boolean {
  return res.headers['ce-specversion'] !== undefined || /^application\/cloudevents(-batch)?\+json/i.test(res.headers['content-type'] ?? '')
}

async function recordOnLane<D extends EventDefinition> (deps: RelayDeps, def: D, data: EventData<D> & { trigger: string, lane: string, eventSeq: number }, key: string, causationId: string | undefined): Promise<void> {
  await appendEvent(deps.js, {
    def,
    data,
    subject: Subjects.triggerLane(data.trigger, data.lane),
    source: `/jetway/triggers/${data.trigger}`,
    about: String(data.eventSeq),
    idempotencyKey: key,
    causationId,
    time: deps.clock.now()
  })
}

/** The request a delivery makes: the event in CloudEvents binary mode, or the relayed call. */
function requestOf (deps: RelayDeps, trigger: TriggerCreated, msg: BrokerMessage): OutboundRequest | string {
  const secret = trigger.secret ?? deps.webhookSecret
  const webhook = secret === undefined ? undefined : { id: deliveryWebhookId(trigger.name, msg.seq), secret }
  const base = { method: 'POST', timeoutMs: trigger.delivery.timeoutMs, ...(webhook === undefined ? {} : { webhook }) }
  if ('relay' in trigger.subscriber) {
    const call = relayCallOf(msg.event)
    if (typeof call === 'string') return call
    return { ...base, url: call.url, headers: { ...call.headers, 'jetway-event-id': msg.event.id }, body: call.body }
  }
  const { headers, body } = binaryOf(fromCloudEventJson(msg.event, { knativearrivaltime: msg.arrivedAt }))
  return { ...base, url: trigger.subscriber.url, headers, body }
}

/** CloudEvents binary mode: ce-* headers, the data as the body. */
export function binaryOf (ce: CloudEvent<unknown>): { headers: Record<string, string>, body: string | Buffer } {
  const message = HTTP.binary(ce)
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]))
  const body = message.body === undefined || message.body === null
    ? ''
    : typeof message.body === 'string' ? message.body : Buffer.from(message.body as Uint8Array)
  return { headers, body }
}

/**
 * Attempt `attempt` of a trigger's delivery of one broker event. Resolves with what became of
 * it; 'aborted' (the dispatcher is stopping) records nothing.
 */
export async function deliverToTrigger (deps: RelayDeps, trigger: TriggerCreated, msg: BrokerMessage, attempt: number, signal?: AbortSignal): Promise<DeliveryResult> {
  const lane = laneOf(msg.event, msg.seq).token
  const request = requestOf(deps, trigger, msg)
  const fields = { trigger: trigger.name, eventSeq: msg.seq, eventId: msg.event.id, lane, attempt }
  const key = `trigger:${trigger.name}:${msg.seq}:${attempt}`
  const sinkUrl = trigger.delivery.deadLetterSink?.url
  const result = await performAttempt(deps, {
    // data that can never make a call is a failure recorded on the event, not a crash
    request: typeof request === 'string' || signal === undefined ? request : { ...request, signal },
    attempt,
    policy: { ...trigger.delivery, maxRetryAfterMs: deps.relay.maxRetryAfterMs },
    // given up: to the trigger's dead-letter sink, or to DLQ when it has none or the sink fails too
    deadLetter: {
      stream: 'RELAY',
      consumer: trigger.name,
      seq: msg.seq,
      on: 'any',
      ...(sinkUrl === undefined ? {} : { sink: async failed => await postToSink(deps, trigger, msg, sinkUrl, failed) })
    },
    record: {
      delivered: async ({ at }, res) => {
        const replySeq = await publishReply(deps, trigger, msg, res)
        // a first-attempt success records nothing: the lane never waited
        if (attempt === 1) return
        await recordOnLane(deps, Events.triggerDelivered, { ...fields, at, status: res.status, ...(replySeq === undefined ? {} : { replySeq }) }, key, msg.id)
      },
      retrying: async ({ failure }, next) => {
        await recordOnLane(deps, Events.triggerAttemptFailed, { ...fields, ...failure, ...next }, key, msg.id)
        deps.log.info({ trigger: trigger.name, eventSeq: msg.seq, attempt, ...failure, nextAttemptAt: next.nextAttemptAt }, 'trigger delivery failed; will retry')
      },
      // relay.trigger.deadlettered records where the event went, and frees the lane
      gaveUp: async ({ failure }, { because, sink, dlqSeq }) => {
        await recordOnLane(deps, Events.triggerDeadLettered, {
          ...fields, ...failure, reason: because, sink, ...(sink === 'url' ? { sinkUrl } : {}), ...(dlqSeq === undefined ? {} : { dlqSeq })
        }, key, msg.id)
        deps.log.warn({ trigger: trigger.name, eventSeq: msg.seq, reason: because, sink, dlqSeq, error: failure.error }, 'trigger delivery dead-lettered')
      }
    }
  })
  return result === 'gave-up' ? 'deadlettered' : result
}

/** A 2xx answer that carries a CloudEvent is a reply: it goes back into the broker, once. */
async function publishReply (deps: RelayDeps, trigger: TriggerCreated, msg: BrokerMessage, res: OutboundResponse): Promise<number | undefined> {
  if (!hasCloudEvent(res)) return undefined
  let replies: CloudEvent<unknown>[]
  try {
    const parsed = HTTP.toEvent({ headers: res.headers, body: res.text() }) as CloudEvent<unknown> | CloudEvent<unknown>[]
    replies = Array.isArray(parsed) ? parsed : [parsed]
    for (const r of replies) {
      r.validate()
      if (r.specversion !== '1.0' && r.specversion !== '0.3') throw new Error(`specversion ${r.specversion} is not 1.0 or 0.3`)
    }
  } catch (err) {
    deps.log.warn({ trigger: trigger.name, eventSeq: msg.seq, err: (err as Error).message }, 'the subscriber answered something that is not a valid CloudEvent; no reply published')
    return undefined
  }
  let last: number | undefined
  for (const [i, r] of replies.entries()) {
    const appended = await appendBrokerEvent(deps.js, {
      event: toCloudEventJson(r),
      via: 'reply',
      replyTo: { trigger: trigger.name, eventSeq: msg.seq },
      idempotencyKey: `reply:${trigger.name}:${msg.seq}:${i}`,
      causationId: msg.id,
      time: deps.clock.now()
    })
    last = appended.seq
  }
  return last
}

/**
 * The event to the trigger's dead-letter sink, in binary mode with Knative's knativeerrordest,
 * -code and -data extensions. Resolves true when the sink took it (a 2xx).
 */
async function postToSink (deps: RelayDeps, trigger: TriggerCreated, msg: BrokerMessage, sinkUrl: string, { failure, response }: FailedAttempt): Promise<boolean> {
  const extensions: Record<string, string> = {
    knativearrivaltime: msg.arrivedAt,
    knativeerrordest: 'url' in trigger.subscriber ? trigger.subscriber.url : 'relay'
  }
  if (failure.status !== undefined) extensions.knativeerrorcode = String(failure.status)
  if (response !== undefined && response.body.length > 0) extensions.knativeerrordata = response.body.subarray(0, 1024).toString('base64')
  const { headers, body } = binaryOf(fromCloudEventJson(msg.event, extensions))
  const secret = trigger.secret ?? deps.webhookSecret
  const { outcome } = await timedCall(deps.outbound, {
    method: 'POST',
    url: sinkUrl,
    headers,
    body,
    timeoutMs: trigger.delivery.timeoutMs,
    ...(secret === undefined ? {} : { webhook: { id: `${deliveryWebhookId(trigger.name, msg.seq)}_dls`, secret } })
  })
  // one attempt, no retry: the sink took it if the delivery decision calls it a success
  if (classifyOutcome(outcomeOf(outcome), 0, deps.clock.now()).kind === 'success') return true
  deps.log.error({ trigger: trigger.name, eventSeq: msg.seq, sinkUrl, outcome: isResponse(outcome) ? outcome.status : (outcome as Error).message }, 'dead-letter sink failed; the event goes to DLQ')
  return false
}

/** The trigger as RELAY has it now; undefined once deleted. */
export async function currentTrigger (deps: Pick<RelayDeps, 'jsm'>, name: string): Promise<TriggerCreated | undefined> {
  const last = await lastOnSubject(deps.jsm, 'RELAY', Subjects.trigger(name))
  if (last === null) return undefined
  const ev = decodeEvent(last)
  return isEvent(ev, Events.triggerCreated) ? ev.data : undefined
}

/** The effect of a trigger-retry timer: the next attempt, if the lane still waits on it. */
export async function retryTriggerDelivery (deps: RelayDeps, p: TriggerRetryPayload, causationId: string): Promise<void> {
  const last = await lastOnSubject(deps.jsm, 'RELAY', Subjects.triggerLane(p.trigger, p.lane))
  if (last === null) return
  const ev = decodeEvent(last)
  if (!isEvent(ev, Events.triggerAttemptFailed) || ev.data.eventSeq !== p.eventSeq || ev.data.attempt !== p.attempt - 1) return
  const trigger = await currentTrigger(deps, p.trigger)
  const stored = await deps.jsm.streams.getMessage('RELAY', { seq: p.eventSeq })
  const msg = stored === null ? undefined : brokerMessageOf(decodeEvent(stored))
  if (trigger === undefined || msg === undefined) {
    await recordOnLane(deps, Events.triggerDeadLettered, {
      trigger: p.trigger,
      eventSeq: p.eventSeq,
      eventId: ev.data.eventId,
      lane: p.lane,
      attempt: ev.data.attempt,
      at: deps.clock.now().toISOString(),
      durationMs: 0,
      error: trigger === undefined ? 'the trigger was deleted while this delivery waited for a retry' : 'the event is no longer in RELAY',
      reason: 'trigger deleted',
      sink: 'none'
    }, `trigger:${p.trigger}:${p.eventSeq}:${p.attempt}`, causationId)
    return
  }
  await deliverToTrigger(deps, trigger, msg, p.attempt)
}
