import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { TriggerCreated } from '../schema/events/relay.js'
import { typeTokenOf } from '../domain/triggers.js'
import { ensureConsumer } from '../workers/runner.js'

// Each trigger is a durable consumer of RELAY named after it, so `nats consumer ls RELAY`
// lists the triggers beside the workers. It reads the broker's events from its creation on
// (deliver policy new, as a Knative Trigger sees only events that arrive after it); a filter
// on `type` narrows its subject filter, the rest of the filter is checked by the dispatcher.

/** Names the relay's own consumers use: no trigger may take them. */
export const RESERVED_CONSUMERS = new Set(['relay-delivery', 'relay-timers'])

/** Messages a trigger may have pulled and not yet acknowledged (a lane's waiting events count). */
export const TRIGGER_MAX_ACK_PENDING = 1000

export function triggerConsumerConfig (trigger: TriggerCreated): Partial<ConsumerConfig> {
  const type = trigger.filter.attributes.type
  const target = 'url' in trigger.subscriber ? trigger.subscriber.url : 'the relay (receive-cloudevents)'
  const filter = Object.entries(trigger.filter.attributes).map(([k, v]) => `${k}=${v}`).join(', ')
  return {
    durable_name: trigger.name,
    description: `Jetway trigger ${trigger.name}: broker events${filter === '' ? '' : ` with ${filter}`}${trigger.filter.subjectPrefix === undefined ? '' : ` and subject ${trigger.filter.subjectPrefix}*`} to ${target}`.slice(0, 1000),
    filter_subject: type === undefined ? 'relay.events.>' : `relay.events.${typeTokenOf(type)}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 60_000_000_000,
    max_deliver: -1,
    max_ack_pending: TRIGGER_MAX_ACK_PENDING
  }
}

export async function ensureTriggerConsumer (jsm: JetStreamManager, trigger: TriggerCreated, log: Logger): Promise<void> {
  await ensureConsumer(jsm, { name: trigger.name, stream: 'RELAY', handle: async () => {} }, log, triggerConsumerConfig(trigger))
}

export async function deleteTriggerConsumer (jsm: JetStreamManager, name: string): Promise<void> {
  try {
    await jsm.consumers.delete('RELAY', name)
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.ConsumerNotFound) throw err
  }
}
