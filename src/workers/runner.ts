import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { decodeEvent, isValidEvent, type StoredEvent } from '../store/events.js'
import { backoffFor, keepRunning } from '../lib/retry.js'
import { STREAMS_DIR } from '../store/streams.js'
import type { Clock } from '../lib/time.js'
import type { RetryPolicy, Worker } from './worker.js'
import { deadLetter } from './dead-letters.js'

export interface WorkerRunnerOptions {
  worker: Worker
  js: JetStreamClient
  jsm: JetStreamManager
  log: Logger
  clock: Clock
  /** the policy of a worker that names none */
  retry: RetryPolicy
  /** messages handled at once; also the most it pulls, so nothing waits prefetched */
  concurrency?: number
  /** the consumer's config, when it is not declared in streams/<STREAM>.consumers.json (tests, tools) */
  consumer?: Partial<ConsumerConfig>
}

/**
 * Runs one worker on its durable pull consumer, shared by every instance so each message is
 * handled once across a fleet. It pulls only as many messages as it has free slots (a
 * prefetched message cannot sit until its ack_wait runs out), keeps each message with
 * working() while a long effect runs, and acks after the effect. A failure is retried by the
 * worker's policy (nak with its backoff: the delivery count counts failures only); after the
 * last attempt, and at once for a message that can never succeed (not a valid event of a type
 * this build knows), the whole message goes to DLQ as dlq.message.deadlettered and is
 * terminated, for an operator to list and replay (npm run dlq).
 */
export class WorkerRunner {
  private readonly opts: WorkerRunnerOptions
  private readonly log: Logger
  private readonly retry: RetryPolicy
  private batch?: ConsumerMessages
  private loop?: Promise<void>
  private stopped = false
  private stopping = new AbortController()
  private ackWaitMs = 30_000

  constructor (opts: WorkerRunnerOptions) {
    this.opts = opts
    this.retry = opts.worker.retry ?? opts.retry
    this.log = opts.log.child({ component: 'worker', worker: opts.worker.name })
  }

  async start (): Promise<void> {
    this.stopped = false
    this.stopping = new AbortController()
    await ensureConsumer(this.opts.jsm, this.opts.worker, this.log, this.opts.consumer)
    this.loop = keepRunning(async () => { await this.consume() }, {
      stopped: () => this.stopped,
      // a stop while the stream has no leader (its consumer lookups failing, the backoff at
      // its 5 s) would otherwise wait the backoff out: the workers took over 10 s to close
      signal: this.stopping.signal,
      onError: err => { this.log.error({ err }, 'worker consumer failed; retrying'); return false }
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.stopping.abort()
    this.batch?.stop()
    await this.loop
  }

  private async consume (): Promise<void> {
    const { js, worker } = this.opts
    const consumer = await js.consumers.get(worker.stream, worker.name)
    this.ackWaitMs = Math.max(1000, ((await consumer.info(true)).config.ack_wait ?? 30e9) / 1_000_000)
    const concurrency = this.opts.concurrency ?? 32
    const inFlight = new Set<Promise<void>>()
    try {
      while (!this.stopped) {
        const free = concurrency - inFlight.size
        if (free === 0) {
          await Promise.race(inFlight)
          continue
        }
        this.batch = await consumer.fetch({ max_messages: free, expires: 2000 })
        if (this.stopped) this.batch.stop()
        for await (const m of this.batch) {
          const p = this.handle(m).finally(() => inFlight.delete(p))
          inFlight.add(p)
        }
      }
    } finally {
      await Promise.all(inFlight)
    }
  }

  private async handle (m: JsMsg): Promise<void> {
    const { worker } = this.opts
    let event: StoredEvent
    try {
      event = decodeEvent(m)
      if (!isValidEvent(event)) throw new Error(`not a valid event of a type this build knows: ${event.type} v${event.version}`)
    } catch (err) {
      await this.giveUp(m, `poison message: ${(err as Error).message}`)
      return
    }
    // keep the message while a long effect (SMTP, outbound HTTP) runs, so ack_wait never hands it to another instance
    const keep = setInterval(() => { m.working() }, Math.max(500, this.ackWaitMs / 3))
    try {
      await worker.handle(event, m)
      // the slot frees once the server has the ack: a fetch sent before it is processed would
      // find this message still pending and hold one more than the concurrency
      await m.ackAck().catch((err: unknown) => { this.log.warn({ err, seq: m.seq }, 'ack not confirmed; the message may come again (its effect is re-checked)') })
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      const deliveries = m.info.deliveryCount
      if (deliveries >= this.retry.attempts) {
        await this.giveUp(m, error)
        return
      }
      const delay = backoffFor(this.retry.backoffMs, deliveries)
      this.log.warn({ seq: m.seq, subject: m.subject, deliveries, retryInMs: delay, error }, 'message failed; will retry')
      m.nak(delay)
    } finally {
      clearInterval(keep)
    }
  }

  /** Dead-letters the message and terminates it; if DLQ cannot take it now, retries later. */
  private async giveUp (m: JsMsg, error: string): Promise<void> {
    try {
      await this.deadLetter(m, error, m.info.deliveryCount)
      // no reason text: nats-server 2.9 only knows a bare +TERM and ignores "+TERM <reason>"
      m.term()
    } catch (dlqErr) {
      this.log.error({ err: dlqErr, seq: m.seq }, 'dead-lettering failed; will retry')
      m.nak(backoffFor(this.retry.backoffMs, 1))
    }
  }

  private async deadLetter (m: JsMsg, error: string, deliveries: number): Promise<void> {
    const { js, worker, clock } = this.opts
    const dlqSeq = await deadLetter(js, { stream: worker.stream, consumer: worker.name, message: m, error, deliveries }, clock)
    this.log.error({ seq: m.seq, subject: m.subject, deliveries, error, dlqSeq }, 'message dead-lettered')
  }
}

/** The worker's consumer as streams/<STREAM>.consumers.json declares it: created, or updated. */
export async function ensureConsumer (jsm: JetStreamManager, worker: Worker, log: Logger, declaredConfig?: Partial<ConsumerConfig>): Promise<void> {
  const declared = declaredConfig !== undefined
    ? [{ ...declaredConfig, durable_name: worker.name }]
    : JSON.parse(await readFile(join(STREAMS_DIR, `${worker.stream}.consumers.json`), 'utf8')) as Partial<ConsumerConfig>[]
  const found = declared.find(c => c.durable_name === worker.name)
  if (found === undefined) throw new Error(`streams/${worker.stream}.consumers.json declares no consumer ${worker.name}`)
  const wanted = worker.ackWaitMs === undefined ? found : { ...found, ack_wait: worker.ackWaitMs * 1_000_000 }
  const config: Partial<ConsumerConfig> = { ...wanted, ack_policy: wanted.ack_policy ?? AckPolicy.Explicit, deliver_policy: wanted.deliver_policy ?? DeliverPolicy.All }
  try {
    const info = await jsm.consumers.info(worker.stream, worker.name)
    if (info.config.filter_subject !== config.filter_subject) {
      // nats-server 2.9 cannot change a consumer's filter: a consumer that reads other subjects now is made anew
      log.warn({ consumer: worker.name, from: info.config.filter_subject, to: config.filter_subject }, 'consumer filter changed: recreating the consumer')
      await jsm.consumers.delete(worker.stream, worker.name)
      await jsm.consumers.add(worker.stream, config)
      return
    }
    const { durable_name: _n, deliver_policy: _d, ...updatable } = config
    const current = Object.fromEntries(Object.keys(updatable).map(k => [k, info.config[k as keyof ConsumerConfig]]))
    if (!isDeepStrictEqual(current, updatable)) {
      await jsm.consumers.update(worker.stream, worker.name, updatable).catch((err: Error) => {
        log.error({ err: err.message, consumer: worker.name }, 'consumer update refused; running with it as it is')
      })
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.ConsumerNotFound) throw err
    await jsm.consumers.add(worker.stream, config)
    log.info({ consumer: worker.name, stream: worker.stream }, 'consumer created')
  }
}
