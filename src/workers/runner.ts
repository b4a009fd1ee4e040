import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { STREAMS_DIR } from '../store/streams.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

export interface WorkerRunnerOptions {
  worker: Worker
  js: JetStreamClient
  jsm: JetStreamManager
  log: Logger
  clock: Clock
  /** deliveries of a failing message before it is dead-lettered */
  maxDeliver: number
  /** first retry delay; doubles per delivery, at most a minute */
  backoffMs: number
  /** messages handled at once */
  concurrency?: number
}

/**
 * Runs one worker on its durable pull consumer, shared by every instance so each message is
 * handled once across a fleet. Acks after the effect; naks with backoff on failure; after
 * maxDeliver failures appends the whole message to DLQ as dlq.message.deadlettered and
 * terminates it there, for an operator to list and replay (npm run dlq).
 */
export class WorkerRunner {
  private readonly opts: WorkerRunnerOptions
  private readonly log: Logger
  private messages?: ConsumerMessages
  private loop?: Promise<void>
  private stopped = false

  constructor (opts: WorkerRunnerOptions) {
    this.opts = opts
    this.log = opts.log.child({ component: 'worker', worker: opts.worker.name })
  }

  async start (): Promise<void> {
    this.stopped = false
    await ensureConsumer(this.opts.jsm, this.opts.worker, this.log)
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.messages?.stop()
    await this.loop
  }

  private async run (): Promise<void> {
    let backoff = 100
    while (!this.stopped) {
      try {
        await this.consume()
        backoff = 100
      } catch (err) {
        if (this.stopped) break
        this.log.error({ err }, 'worker consumer failed; retrying')
        await new Promise(resolve => setTimeout(resolve, backoff))
        backoff = Math.min(backoff * 2, 5000)
      }
    }
  }

  private async consume (): Promise<void> {
    const { js, worker } = this.opts
    const consumer = await js.consumers.get(worker.stream, worker.name)
    const concurrency = this.opts.concurrency ?? 32
    this.messages = await consumer.consume({ max_messages: concurrency * 2 })
    if (this.stopped) this.messages.stop()
    const inFlight = new Set<Promise<void>>()
    try {
      for await (const m of this.messages) {
        const p = this.handle(m).finally(() => inFlight.delete(p))
        inFlight.add(p)
        if (inFlight.size >= concurrency) await Promise.race(inFlight)
      }
    } finally {
      this.messages.stop()
      await Promise.all(inFlight)
    }
  }

  private async handle (m: JsMsg): Promise<void> {
    const { worker, maxDeliver, backoffMs } = this.opts
    const deliveries = m.info.deliveryCount
    try {
      const result = await worker.handle(decodeEvent(m), m)
      if (result === undefined) m.ack()
      else m.nak(Math.max(1, Math.round(result.retryInMs)))
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      if (deliveries >= maxDeliver) {
        try {
          await this.deadLetter(m, error, deliveries)
          // no reason text: nats-server 2.9 only knows a bare +TERM and ignores "+TERM <reason>"
          m.term()
        } catch (dlqErr) {
          this.log.error({ err: dlqErr, seq: m.seq }, 'dead-lettering failed; will retry')
          m.nak(backoffMs)
        }
        return
      }
      const delay = Math.min(backoffMs * 2 ** (deliveries - 1), 60_000)
      this.log.warn({ seq: m.seq, subject: m.subject, deliveries, retryInMs: delay, error }, 'message failed; will retry')
      m.nak(delay)
    }
  }

  private async deadLetter (m: JsMsg, error: string, deliveries: number): Promise<void> {
    const { js, worker, clock } = this.opts
    const headers: Record<string, string> = {}
    for (const [k, v] of m.headers ?? []) if (v[0] !== undefined) headers[k] = v[0]
    const appended = await appendEvent(js, {
      def: Events.messageDeadLettered,
      data: { stream: worker.stream, consumer: worker.name, seq: m.seq, subject: m.subject, headers, data: Buffer.from(m.data).toString('base64'), error, deliveries },
      subject: Subjects.deadLetter(worker.stream, worker.name),
      source: `/jetway/workers/${worker.name}`,
      idempotencyKey: `dlq:${worker.stream}:${worker.name}:${m.seq}`,
      causationId: headers['ce-id'],
      time: clock.now()
    })
    this.log.error({ seq: m.seq, subject: m.subject, deliveries, error, dlqSeq: appended.seq }, 'message dead-lettered')
  }
}

/** The worker's consumer as streams/<STREAM>.consumers.json declares it: created, or updated. */
export async function ensureConsumer (jsm: JetStreamManager, worker: Worker, log: Logger): Promise<void> {
  const declared = JSON.parse(await readFile(join(STREAMS_DIR, `${worker.stream}.consumers.json`), 'utf8')) as ConsumerConfig[]
  const wanted = declared.find(c => c.durable_name === worker.name)
  if (wanted === undefined) throw new Error(`streams/${worker.stream}.consumers.json declares no consumer ${worker.name}`)
  const config: Partial<ConsumerConfig> = { ...wanted, ack_policy: wanted.ack_policy ?? AckPolicy.Explicit, deliver_policy: wanted.deliver_policy ?? DeliverPolicy.All }
  try {
    const info = await jsm.consumers.info(worker.stream, worker.name)
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
