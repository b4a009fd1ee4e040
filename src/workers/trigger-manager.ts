import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent, isEvent } from '../store/events.js'
import { Lease } from '../store/lease.js'
import { Subjects } from '../store/subjects.js'
import { deleteTriggerConsumer, ensureTriggerConsumer } from '../store/trigger-consumers.js'
import { VersionConflict } from '../lib/errors.js'
import { within } from '../lib/concurrency.js'
import { Events } from '../schema/events/index.js'
import type { TriggerCreated } from '../schema/events/relay.js'
import { DEFAULT_EVENT_TYPE, DEFAULT_TRIGGER, triggerOf } from '../domain/triggers.js'
import type { RelayDeps } from './relay-attempts.js'
import { TriggerDispatcher } from './trigger-dispatcher.js'
import { OrderedFollower } from '../store/ordered.js'

// Runs the triggers' dispatchers in a process with the `workers` role. It follows the triggers
// in RELAY (relay.triggers.>) from the start, and for each one keeps trying to hold its lease
// (stream LEASES): the holder dispatches the trigger, the others stand by and take over once
// the lease runs out (RELAY_LEASE_TTL). It creates the default trigger receive-cloudevents the
// first time it runs against a stream that never had one.

export interface TriggerManagerOptions extends RelayDeps {
  nc: NatsConnection
  /** this instance, as leases name it: stable across restarts of the same instance */
  holder: string
  leaseTtlMs: number
  /** passed to each dispatcher */
  pollMs?: number
}

/** longest a lease's release may take on stop */
const RELEASE_MS = 1000

export class TriggerManager {
  private readonly opts: TriggerManagerOptions
  private readonly log: Logger
  private readonly triggers = new Map<string, TriggerCreated>()
  private readonly leases = new Map<string, Lease>()
  private readonly dispatchers = new Map<string, TriggerDispatcher>()
  /** follows the triggers in RELAY */
  private tail?: OrderedFollower
  private caughtUp?: () => void
  private timer?: NodeJS.Timeout
  private reconciling: Promise<void> = Promise.resolve()
  private stopped = false

  constructor (opts: TriggerManagerOptions) {
    this.opts = opts
    this.log = opts.log.child({ component: 'trigger-manager' })
  }

  /** Trigger names this instance dispatches now. */
  get dispatching (): string[] {
    return [...this.dispatchers.keys()]
  }

  async start (): Promise<void> {
    this.stopped = false
    await this.ensureDefaultTrigger()
    await this.follow()
    if (this.stopped) return
    await this.reconcile()
    const every = Math.max(200, Math.floor(this.opts.leaseTtlMs / 3))
    this.timer = setInterval(() => { this.reconcile().catch(err => this.log.error({ err }, 'trigger reconcile failed')) }, every)
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.tail?.stop()
    // a start still waiting to catch up goes on (and finds itself stopped)
    this.caughtUp?.()
    await this.reconciling
    await Promise.all([...this.dispatchers.values()].map(async d => await d.stop()))
    this.dispatchers.clear()
    // best effort: a lease not released (NATS gone) lapses after its TTL, as a crashed holder's does
    await Promise.all([...this.leases.values()].map(async l => await within(l.release(), RELEASE_MS)))
    this.leases.clear()
  }

  /** receive-cloudevents, relaying the default type, unless RELAY ever had a trigger of that name. */
  private async ensureDefaultTrigger (): Promise<void> {
    const deps = this.opts
    const trigger = triggerOf({ name: DEFAULT_TRIGGER, filter: { attributes: { type: DEFAULT_EVENT_TYPE } }, subscriber: { relay: true } }, deps.relay, deps.clock.now().toISOString())
    if (Array.isArray(trigger)) throw new Error(`the default trigger is invalid: ${JSON.stringify(trigger)}`)
    try {
      await appendEvent(deps.js, {
        def: Events.triggerCreated,
        data: trigger,
        subject: Subjects.trigger(DEFAULT_TRIGGER),
        source: '/jetway/triggers',
        about: DEFAULT_TRIGGER,
        expectLastSubjectSeq: 0,
        time: deps.clock.now()
      })
      await ensureTriggerConsumer(deps.jsm, trigger, this.log)
      this.log.info({ trigger: DEFAULT_TRIGGER, type: DEFAULT_EVENT_TYPE }, 'default trigger created')
    } catch (err) {
      if (!(err instanceof VersionConflict)) throw err
    }
  }

  /**
   * Follows relay.triggers.> from the start (src/store/ordered.ts); resolves once it has read
   * what is there, or once stopped.
   */
  private async follow (): Promise<void> {
    let lastSeq = 0
    let readAll = false
    const ready = new Promise<void>(resolve => { this.caughtUp = resolve })
    /** At the stream's end: the first time, the start goes on; after, the dispatchers follow the change. */
    const atEnd = (): void => {
      if (readAll) {
        this.reconcile().catch(err => this.log.error({ err }, 'trigger reconcile failed'))
        return
      }
      readAll = true
      this.caughtUp?.()
    }
    this.tail = new OrderedFollower({
      js: this.opts.js,
      stream: 'RELAY',
      filter: Subjects.triggers,
      resumeAfter: () => lastSeq,
      onStart: pending => { if (pending === 0 && !readAll) atEnd() },
      onMessage: m => {
        lastSeq = m.seq
        const ev = decodeEvent(m)
        if (isEvent(ev, Events.triggerCreated)) this.triggers.set(ev.data.name, ev.data)
        if (isEvent(ev, Events.triggerDeleted)) this.triggers.delete(ev.data.name)
        if (m.info.pending === 0) atEnd()
      },
      onError: err => {
        this.log.error({ err }, 'following the triggers failed; again shortly')
        return false
      }
    })
    this.tail.start()
    await ready
  }

  /** Starts the dispatchers whose lease this instance holds, stops the others. Serialised. */
  async reconcile (): Promise<void> {
    const next = this.reconciling.then(async () => { if (!this.stopped) await this.reconcileNow() })
    this.reconciling = next.catch(() => {})
    await next
  }

  private async reconcileNow (): Promise<void> {
    for (const [name, dispatcher] of this.dispatchers) {
      const current = this.triggers.get(name)
      if (current !== undefined && current.createdAt === dispatcher.createdAt) continue
      await dispatcher.stop()
      this.dispatchers.delete(name)
      if (current === undefined) {
        await this.leases.get(name)?.release()
        this.leases.delete(name)
        await deleteTriggerConsumer(this.opts.jsm, name).catch(err => this.log.warn({ err, trigger: name }, 'could not delete the consumer of a deleted trigger'))
      }
    }
    for (const [name, trigger] of this.triggers) {
      let lease = this.leases.get(name)
      if (lease === undefined) {
        lease = new Lease({ js: this.opts.js, jsm: this.opts.jsm, clock: this.opts.clock, name: `trigger-${name}`, holder: this.opts.holder, ttlMs: this.opts.leaseTtlMs })
        this.leases.set(name, lease)
      }
      const held = await lease.acquire().catch(err => {
        this.log.warn({ err, trigger: name }, 'lease renewal failed')
        return lease.held
      })
      const running = this.dispatchers.get(name)
      if (held && running === undefined) {
        const dispatcher = new TriggerDispatcher({ ...this.opts, trigger, ...(this.opts.pollMs === undefined ? {} : { pollMs: this.opts.pollMs }) })
        await dispatcher.start()
        this.dispatchers.set(name, dispatcher)
      } else if (!held && running !== undefined) {
        this.log.warn({ trigger: name }, 'lease lost: another instance dispatches this trigger now')
        await running.stop()
        this.dispatchers.delete(name)
      }
    }
  }
}
