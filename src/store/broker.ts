import { createHash } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import { CloudEvent } from 'cloudevents'
import { appendEvent, type Appended } from './events.js'
import { Subjects } from './subjects.js'
import { Events } from '../schema/events/index.js'
import type { BrokerEventReceived, CloudEventJson } from '../schema/events/relay.js'
import { brokerLaneToken, typeTokenOf } from '../domain/triggers.js'

// The broker's ingress: a CloudEvent becomes relay.event.received on
// relay.events.<type>.<subject> in RELAY, once per (source, id) inside the duplicate window.

/** A CloudEvents SDK event in structured JSON form, as the broker keeps it. */
export function toCloudEventJson (ce: CloudEvent<unknown>): CloudEventJson {
  return JSON.parse(JSON.stringify(ce)) as CloudEventJson
}

/** An SDK event for a stored one, with extra extensions (knativearrivaltime, …). */
export function fromCloudEventJson (stored: CloudEventJson, extensions: Record<string, string> = {}): CloudEvent<unknown> {
  return new CloudEvent<unknown>({ ...stored, ...extensions } as ConstructorParameters<typeof CloudEvent<unknown>>[0], false)
}

export async function appendBrokerEvent (js: JetStreamClient, opts: {
  event: CloudEventJson
  via: BrokerEventReceived['via']
  replyTo?: BrokerEventReceived['replyTo']
  correlationId?: string
  causationId?: string
  /** default: the CloudEvent's source and id, so a sender's retry appends nothing */
  idempotencyKey?: string
  time: Date
}): Promise<Appended> {
  const { event } = opts
  const key = opts.idempotencyKey ?? `event:${createHash('sha256').update(`${event.source}\n${event.id}`).digest('base64url').slice(0, 32)}`
  return await appendEvent(js, {
    def: Events.brokerEventReceived,
    data: { event, via: opts.via, ...(opts.replyTo === undefined ? {} : { replyTo: opts.replyTo }) },
    subject: Subjects.brokerEvent(typeTokenOf(event.type), brokerLaneToken(event)),
    source: '/jetway/event',
    ...(event.subject === undefined ? {} : { about: event.subject }),
    idempotencyKey: key,
    correlationId: opts.correlationId,
    causationId: opts.causationId,
    time: opts.time
  })
}
