import type { JsMsg } from '@nats-io/jetstream'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { decodeEvent, isEvent } from '../store/events.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Subjects } from '../store/subjects.js'
import { ensureTriggerConsumer } from '../store/trigger-consumers.js'
import { keepRunning } from '../lib/retry.js'
import { Events } from '../schema/events/index.js'
import type { TriggerCreated } from '../schema/events/relay.js'
import { laneOf, matchesFilter } from '../domain/triggers.js'
import { deadLetterAt, REPLAY_HEADER } from './dead-letters.js'
import type { RelayDeps } from './relay-attempts.js'
import { brokerMessageOf, deliverToTrigger, type BrokerMessage, type DeliveryResult } from './trigger-delivery.js'

// A trigger's dispatcher: pulls the trigger's durable consumer and delivers each matching
// event to its subscriber, in stream order per lane (the CloudEvents subject) and concurrently
// across lanes. It is not a WorkerRunner: that one handles messages as they come, in any order,
// and retries by holding them (nak with a delay), while a lane must hold back its later events
// until its head is delivered, and a head's retries are durable timers.
//
// One instance at a time dispatches a trigger (src/workers/trigger-manager.ts holds a lease),
// so the lane order is this process's order. A head whose delivery fails and may be retried is
// recorded (relay.trigger.attempt.failed, a durable timer) and acknowledged; the relay-timers
// worker makes the retries, on any instance. Its lane's later events wait here, pulled but not
// acknowledged (kept alive with working()), until the head's outcome is recorded
// (relay.trigger.delivered / .deadlettered on the lane's subject, seen through a plain NATS
// subscription, or a poll). After a crash, the lane's state is read back from that subject.

export interface DispatcherOptions extends RelayDeps {
  nc: NatsConnection
  trigger: TriggerCreated
  /** messages pulled and not yet acknowledged, waiting ones included */
  maxPending?: number
  /** deliveries (HTTP calls) at once */
  concurrency?: number
  /** how often waiting lanes look up their head's outcome, besides the subscription (ms) */
  pollMs?: number
}

interface Lane {
  token: string
  queue: { m: JsMsg, msg: BrokerMessage }[]
  busy: boolean
  /** a head that waits for a retry (its seq); later events wait behind it */
  blockedBy?: number
  /** every event up to this seq is done (-1: not read back yet) */
  doneThrough: number
  wake?: () => void
}

/** Lanes remembered as clear after they empty, so a quiet lane costs no look-up when it wakes. */
const CLEAR_LANES_KEPT = 10_000

export class TriggerDispatcher {
  readonly name: string
  private readonly opts: DispatcherOptions
  private readonly log: Logger
  private readonly lanes = new Map<string, Lane>()
  private readonly clearLanes = new Map<string, number>()
  private readonly pending = new Set<JsMsg>()
  private readonly replays = new Map<number, boolean>()
  private readonly abort = new AbortController()
  private readonly running = new Set<Promise<unknown>>()
  private freed?: () => void
  private active = 0
  private readonly slotWaiters: (() => void)[] = []
  private sub?: Subscription
  private keepalive?: NodeJS.Timeout
  private loop?: Promise<void>
  private stopped = false
  private stopFetch?: () => void

  constructor (opts: DispatcherOptions) {
    this.opts = opts
    this.name = opts.trigger.name
    this.log = opts.log.child({ component: 'trigger', trigger: this.name })
  }

  /** tells this trigger from a later one of the same name */
  get createdAt (): string {
    return this.opts.trigger.createdAt
  }

  async start (): Promise<void> {
    const { nc, jsm, trigger } = this.opts
    await ensureTriggerConsumer(jsm, trigger, this.log)
    this.sub = nc.subscribe(Subjects.triggerLanes(this.name), {
      callback: (err, msg) => {
        if (err !== null) return
        try {
          this.onOutcome(decodeEvent({ seq: 0, subject: msg.subject, data: msg.data, headers: msg.headers }))
        } catch {}
      }
    })
    const ackWaitMs = 60_000
    this.keepalive = setInterval(() => {
      for (const m of this.pending) m.working()
    }, ackWaitMs / 3)
    const poll = setInterval(() => { this.pollBlocked().catch(err => this.log.warn({ err }, 'lane poll failed')) }, this.opts.pollMs ?? 2000)
    this.loop = keepRunning(async () => { await this.consume() }, {
      stopped: () => this.stopped,
      onError: err => { this.log.error({ err }, 'trigger consumer failed; retrying'); return false }
    }).finally(() => clearInterval(poll))
    this.log.info('dispatching')
  }

  /** Stops pulling, cancels deliveries in flight (recording nothing) and hands every pulled message back. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.abort.abort()
    this.stopFetch?.()
    this.freed?.()
    for (const lane of this.lanes.values()) lane.wake?.()
    for (const w of this.slotWaiters.splice(0)) w()
    await this.loop
    await Promise.allSettled([...this.running])
    clearInterval(this.keepalive)
    this.sub?.unsubscribe()
    for (const m of this.pending) m.nak()
    this.pending.clear()
    this.log.info('stopped dispatching')
  }

  private async consume (): Promise<void> {
    const consumer = await this.opts.js.consumers.get('RELAY', this.name)
    const maxPending = this.opts.maxPending ?? 1000
    while (!this.stopped) {
      const free = maxPending - this.pending.size
      if (free <= 0) {
        await new Promise<void>(resolve => { this.freed = resolve })
        continue
      }
      const batch = await consumer.fetch({ max_messages: Math.min(free, 256), expires: 2000 })
      this.stopFetch = () => batch.stop()
      if (this.stopped) batch.stop()
      for await (const m of batch) {
        if (this.stopped) {
          m.nak()
          continue
        }
        this.pending.add(m)
        this.route(m)
      }
    }
  }

  private track (p: Promise<unknown>): void {
    const tracked = p.catch(err => this.log.error({ err }, 'dispatch failed')).finally(() => this.running.delete(tracked))
    this.running.add(tracked)
  }

  /** Acknowledges a message this dispatcher is done with. */
  private done (m: JsMsg): void {
    m.ack()
    this.release(m)
  }

  /** Hands a message back for redelivery (a short wait: NATS itself is failing). */
  private handBack (m: JsMsg): void {
    m.nak(500)
    this.release(m)
  }

  private release (m: JsMsg): void {
    this.pending.delete(m)
    this.freed?.()
    this.freed = undefined
  }

  /**
   * Puts a pulled message in its lane at once, in the order pulled (the filter is checked
   * here; whether a replayed dead letter is ours, which needs a look-up, when its turn comes).
   */
  private route (m: JsMsg): void {
    let msg: BrokerMessage | undefined
    try {
      msg = brokerMessageOf(decodeEvent(m))
    } catch {}
    if (msg === undefined) {
      this.log.error({ seq: m.seq, subject: m.subject }, 'not a broker event: skipped')
      this.done(m)
      return
    }
    if (!matchesFilter(this.opts.trigger.filter, msg.event)) {
      this.done(m)
      return
    }
    const lane = laneOf(msg.event, msg.seq)
    if (!lane.keyed) {
      this.track(this.deliverOne(m, msg))
      return
    }
    let state = this.lanes.get(lane.token)
    if (state === undefined) {
      const clear = this.clearLanes.get(lane.token)
      state = { token: lane.token, queue: [], busy: false, doneThrough: clear ?? -1 }
      this.lanes.set(lane.token, state)
    }
    // a redelivery of a message still queued (ack_wait ran out while NATS was away) replaces it
    const queued = state.queue.findIndex(q => q.m.seq === m.seq)
    if (queued >= 0) {
      this.pending.delete(state.queue[queued]!.m)
      state.queue[queued] = { m, msg }
    } else {
      state.queue.push({ m, msg })
    }
    if (!state.busy) this.track(this.drain(state))
  }

  /** A replayed dead letter (npm run dlq -- replay) is for the trigger that dead-lettered it only. */
  private async isOurs (m: JsMsg): Promise<boolean> {
    const replayOf = Number(m.headers?.get(REPLAY_HEADER) ?? '')
    if (!Number.isSafeInteger(replayOf) || replayOf < 1) return true
    let ours = this.replays.get(replayOf)
    if (ours === undefined) {
      ours = (await deadLetterAt(this.opts.jsm, replayOf))?.consumer === this.name
      this.replays.set(replayOf, ours)
    }
    return ours
  }

  /** Delivers a lane's events one after another, in the order they were pulled. */
  private async drain (lane: Lane): Promise<void> {
    lane.busy = true
    try {
      while (!this.stopped) {
        try {
          if (await this.drainOnce(lane) === 'aborted') return
          break
        } catch (err) {
          // NATS failed under us: keep the lane's events in order and try again shortly
          this.log.error({ err, lane: lane.token }, 'lane failed; trying again')
          await new Promise(resolve => setTimeout(resolve, 1000))
        }
      }
    } finally {
      lane.busy = false
    }
    if (this.lanes.get(lane.token) !== lane || lane.queue.length > 0) return
    this.lanes.delete(lane.token)
    // a lane that waits with nothing behind its head is read back when its next event comes
    if (lane.blockedBy === undefined) {
      this.clearLanes.delete(lane.token)
      this.clearLanes.set(lane.token, lane.doneThrough)
      if (this.clearLanes.size > CLEAR_LANES_KEPT) this.clearLanes.delete(this.clearLanes.keys().next().value!)
    }
  }

  private async drainOnce (lane: Lane): Promise<'drained' | 'aborted'> {
    if (lane.doneThrough < 0 && lane.blockedBy === undefined) await this.readBack(lane)
    while (lane.queue.length > 0 && !this.stopped) {
      const { m, msg } = lane.queue[0]!
      if (lane.blockedBy !== undefined && m.seq > lane.blockedBy) {
        await new Promise<void>(resolve => { lane.wake = resolve })
        lane.wake = undefined
        continue
      }
      // at or before the lane's head or its last outcome: done already (a redelivery after a crash);
      // a replayed dead letter of another trigger: not ours
      if (m.seq <= Math.max(lane.doneThrough, lane.blockedBy ?? 0) || !(await this.isOurs(m))) {
        lane.queue.shift()
        this.done(m)
        continue
      }
      const result = await this.deliver(m, msg)
      if (result === 'aborted') return 'aborted'
      // a copy redelivered meanwhile took the head's place in the queue: it is done too
      const head = lane.queue.shift()
      if (head !== undefined && head.m !== m) this.done(head.m)
      if (result === 'retrying') lane.blockedBy = m.seq
      else lane.doneThrough = m.seq
    }
    return 'drained'
  }

  /** The lane's state from its last recorded outcome. */
  private async readBack (lane: Lane): Promise<void> {
    const last = await lastOnSubject(this.opts.jsm, 'RELAY', Subjects.triggerLane(this.name, lane.token))
    lane.doneThrough = 0
    if (last === null) return
    const ev = decodeEvent(last)
    if (isEvent(ev, Events.triggerAttemptFailed)) lane.blockedBy = ev.data.eventSeq
    else if (isEvent(ev, Events.triggerDelivered) || isEvent(ev, Events.triggerDeadLettered)) lane.doneThrough = ev.data.eventSeq
  }

  private async deliverOne (m: JsMsg, msg: BrokerMessage): Promise<void> {
    try {
      if (!(await this.isOurs(m))) {
        this.done(m)
        return
      }
      await this.deliver(m, msg)
    } catch (err) {
      this.log.error({ err, seq: m.seq }, 'delivery could not be recorded; handed back')
      this.handBack(m)
    }
  }

  /** The first attempt; acknowledges the message once its outcome is recorded. */
  private async deliver (m: JsMsg, msg: BrokerMessage): Promise<DeliveryResult> {
    await this.slot()
    try {
      if (this.stopped) return 'aborted'
      const result = await deliverToTrigger(this.opts, this.opts.trigger, msg, 1, this.abort.signal)
      if (result !== 'aborted') this.done(m)
      return result
    } finally {
      this.active--
      this.slotWaiters.shift()?.()
    }
  }

  private async slot (): Promise<void> {
    while (this.active >= (this.opts.concurrency ?? 64) && !this.stopped) {
      await new Promise<void>(resolve => this.slotWaiters.push(resolve))
    }
    this.active++
  }

  /** An outcome recorded on one of this trigger's lanes (by the relay-timers worker, anywhere). */
  private onOutcome (ev: ReturnType<typeof decodeEvent>): void {
    if (!isEvent(ev, Events.triggerDelivered) && !isEvent(ev, Events.triggerDeadLettered)) return
    this.unblock(ev.data.lane, ev.data.eventSeq)
  }

  private unblock (token: string, eventSeq: number): void {
    const lane = this.lanes.get(token)
    if (lane === undefined || lane.blockedBy !== eventSeq) return
    lane.blockedBy = undefined
    lane.doneThrough = Math.max(lane.doneThrough, eventSeq)
    lane.wake?.()
  }

  /** Looks up the outcome of every waited-on head, in case a notification was missed. */
  private async pollBlocked (): Promise<void> {
    for (const lane of [...this.lanes.values()]) {
      if (lane.blockedBy === undefined) continue
      const last = await lastOnSubject(this.opts.jsm, 'RELAY', Subjects.triggerLane(this.name, lane.token))
      if (last === null) continue
      const ev = decodeEvent(last)
      if (isEvent(ev, Events.triggerDelivered) || isEvent(ev, Events.triggerDeadLettered)) this.unblock(lane.token, ev.data.eventSeq)
    }
  }
}
