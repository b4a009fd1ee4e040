import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { decodeEvent, isEvent } from './events.js'
import { Events } from '../schema/events/index.js'
import type { TriggerDeliveryView } from '../schema/api/admin.js'

// The recent trigger deliveries for the console, from RELAY's relay.deliveries.> (retries,
// late successes, dead letters; a first-attempt success is not recorded): the records of the
// last day read in one pass with an ordered consumer, bounded, folded per (trigger, event).

/** How far back delivery records are read. */
export const DELIVERY_WINDOW_MS = 24 * 3600_000
/** At most this many records are read (the first ones of the window). */
const MAX_RECORDS = 10_000
const IDLE_MS = 1000

export async function recentTriggerDeliveries (js: JetStreamClient, jsm: JetStreamManager, now: Date, limit: number): Promise<{ items: TriggerDeliveryView[], since: string }> {
  const since = new Date(now.getTime() - DELIVERY_WINDOW_MS)
  // none at all (the usual case): no consumer to wait on
  const stored = await jsm.streams.info('RELAY', { subjects_filter: 'relay.deliveries.>' })
  if (Object.keys(stored.state.subjects ?? {}).length === 0) return { items: [], since: since.toISOString() }
  const consumer = await js.consumers.get('RELAY', { filter_subjects: 'relay.deliveries.>', deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() })
  const messages = await consumer.consume({ max_messages: 256 })
  const byEvent = new Map<string, TriggerDeliveryView>()
  let read = 0
  let idle: NodeJS.Timeout | undefined
  const arm = (): void => { clearTimeout(idle); idle = setTimeout(() => { messages.stop() }, IDLE_MS) }
  arm()
  try {
    for await (const m of messages) {
      arm()
      const ev = decodeEvent(m)
      const d = ev.data as { trigger?: string, eventSeq?: number } | null
      if (typeof d?.trigger !== 'string' || typeof d.eventSeq !== 'number') continue
      const key = `${d.trigger}\n${d.eventSeq}`
      const row = byEvent.get(key)
      const base: TriggerDeliveryView = row ?? {
        trigger: d.trigger, eventSeq: d.eventSeq, eventId: '', lane: '', status: 'retrying', attempts: 0, lastAt: ev.time, lastStatus: null, lastError: null, nextAttemptAt: null, sink: null, dlqSeq: null
      }
      if (isEvent(ev, Events.triggerAttemptFailed)) {
        Object.assign(base, { eventId: ev.data.eventId, lane: ev.data.lane, status: 'retrying', attempts: Math.max(base.attempts, ev.data.attempt), lastAt: ev.data.at, lastStatus: ev.data.status ?? null, lastError: ev.data.error, nextAttemptAt: ev.data.nextAttemptAt })
      } else if (isEvent(ev, Events.triggerDelivered)) {
        Object.assign(base, { eventId: ev.data.eventId, lane: ev.data.lane, status: 'delivered', attempts: Math.max(base.attempts, ev.data.attempt), lastAt: ev.data.at, lastStatus: ev.data.status, nextAttemptAt: null })
      } else if (isEvent(ev, Events.triggerDeadLettered)) {
        Object.assign(base, { eventId: ev.data.eventId, lane: ev.data.lane, status: 'dead-lettered', attempts: Math.max(base.attempts, ev.data.attempt), lastAt: ev.data.at, lastStatus: ev.data.status ?? null, lastError: ev.data.error, nextAttemptAt: null, sink: ev.data.sink, dlqSeq: ev.data.dlqSeq ?? null })
      } else {
        continue
      }
      byEvent.delete(key)
      byEvent.set(key, base)
      if (++read >= MAX_RECORDS || m.info.pending === 0) break
    }
  } finally {
    clearTimeout(idle)
    messages.stop()
  }
  return { items: [...byEvent.values()].reverse().slice(0, limit), since: since.toISOString() }
}
