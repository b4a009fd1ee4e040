import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import fp from 'fastify-plugin'
import { Type, type Static } from '@sinclair/typebox'
import { Registry, Histogram, Gauge, Counter, collectDefaultMetrics } from 'prom-client'
import type { Runtime } from '../runtime.js'
import { countDueTimers, countTimers } from '../projections/timers.js'
import { natsState, type NatsState } from '../store/nats-state.js'
import { outboundOutcomes } from '../lib/outbound.js'
import { openapiDocs } from './http/openapi.js'
import { DurabilityView } from '../schema/api/admin.js'
import { readModelSize } from '../projections/read-model-size.js'
import { meterStalls } from './http/stall-meter.js'

// Not encapsulated (fastify-plugin), so the latency hook sees every route of the app.
// /healthz (the process answers), /readyz (can this process serve current reads now?) and
// /metrics (Prometheus: request latency, per-read-model applied sequence and lag).
//
// /readyz is 503 while NATS is disconnected or reconnecting, and for each read model this
// process serves (its own runners with the `projections` role; the checkpoints in the shared
// DATA_DIR for an `api`-only process) while it is being rebuilt, lags its stream by more than
// READY_MAX_LAG messages, or lags at all with its checkpoint unmoved for READ_WAIT (the
// process that feeds it is stuck or gone). A runner of this process must also have reached
// its stream's end once since it started.

export interface HealthOptions {
  runtime: Runtime
}

const ProjectionStatus = Type.Object({
  appliedSeq: Type.Integer(),
  /** stream messages not applied yet (unknown while NATS does not answer: -1) */
  pending: Type.Integer(),
  caughtUp: Type.Boolean(),
  rebuilding: Type.Boolean()
})

const Status = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('not ready')]),
  nats: Type.Optional(Type.Boolean()),
  durability: Type.Optional(DurabilityView),
  projections: Type.Optional(Type.Record(Type.String(), ProjectionStatus)),
  /** why not ready */
  reasons: Type.Optional(Type.Array(Type.String()))
})
type Status = Static<typeof Status>

const NATS_ANSWER_MS = 2000

const plugin: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { runtime }) => {
  const { config, readModels } = runtime
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'jetway_' })
  const stalls = meterStalls(registry)
  app.addHook('onClose', async () => { stalls.stop() })
  const latency = new Histogram({
    name: 'jetway_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  // the read models this process serves reads from (none in a `workers`-only process)
  const served = config.roles.has('api') || config.roles.has('projections') ? readModels.projections : []
  /** per read model: the applied sequence at which it was first seen lagging, and since when */
  const behindSince = new Map<string, { seq: number, at: number }>()

  async function check (): Promise<Status & { projections: Record<string, Static<typeof ProjectionStatus>> }> {
    const reasons: string[] = []
    const nats = runtime.nats.connected
    if (!nats) reasons.push('NATS is disconnected')
    const states = (await readModels.states()).filter(s => served.some(p => p.name === s.name))
    const ends = new Map<string, number | undefined>()
    if (nats) {
      await Promise.all([...new Set(states.map(s => s.stream))].map(async stream => {
        ends.set(stream, await withTimeout(readModels.streamEnd(stream), NATS_ANSWER_MS).catch(() => undefined))
      }))
      if ([...ends.values()].includes(undefined)) reasons.push('NATS does not answer stream info')
    }
    const now = Date.now()
    const projections: Record<string, Static<typeof ProjectionStatus>> = {}
    for (const s of states) {
      const end = ends.get(s.stream)
      const pending = end === undefined ? -1 : Math.max(0, end - s.appliedSeq)
      const runner = runtime.projections.get(s.name)
      let stalled = false
      if (pending > 0) {
        const seen = behindSince.get(s.name)
        if (seen === undefined || seen.seq !== s.appliedSeq) behindSince.set(s.name, { seq: s.appliedSeq, at: now })
        else stalled = now - seen.at > config.readWaitMs
      } else if (pending === 0) {
        behindSince.delete(s.name)
      }
      if (s.rebuilding) reasons.push(`${s.name} is being rebuilt`)
      else if (pending > config.readyMaxLag) reasons.push(`${s.name} lags ${s.stream} by ${pending} messages (READY_MAX_LAG ${config.readyMaxLag})`)
      else if (stalled) reasons.push(`${s.name} has not moved from ${s.stream}:${s.appliedSeq} for over ${config.readWaitMs} ms while behind`)
      else if (runner !== undefined && !runner.caughtUp) reasons.push(`${s.name} is catching up`)
      const caughtUp = !s.rebuilding && pending >= 0 && pending <= config.readyMaxLag && !stalled && (runner?.caughtUp ?? true)
      projections[s.name] = { appliedSeq: s.appliedSeq, pending, caughtUp, rebuilding: s.rebuilding }
    }
    return { status: reasons.length === 0 ? 'ok' : 'not ready', nats, durability: runtime.durability, projections, ...(reasons.length > 0 ? { reasons } : {}) }
  }

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_applied_seq',
    help: 'Last stream sequence a read model has committed',
    labelNames: ['projection'],
    registers: [registry],
    async collect () {
      for (const s of await readModels.states()) if (served.some(p => p.name === s.name)) this.set({ projection: s.name }, s.appliedSeq)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_lag',
    help: 'Messages in the stream a read model has not applied yet',
    labelNames: ['projection'],
    registers: [registry],
    async collect () {
      for (const [name, p] of Object.entries((await check()).projections)) if (p.pending >= 0) this.set({ projection: name }, p.pending)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_thread_info',
    help: 'Which thread of this process runs each projection and the timer ticker (main, or projections#<threadId>)',
    labelNames: ['projection', 'thread'],
    registers: [registry],
    collect () {
      this.reset()
      for (const name of runtime.projections.keys()) this.set({ projection: name, thread: runtime.projectionThread }, 1)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_held',
    help: 'Whether this process applies the read model: always with SQLite; with a PostgreSQL shared by a fleet, only the instance holding its lease (one per read model)',
    labelNames: ['projection'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [name, runner] of runtime.projections) this.set({ projection: name }, runner.holding ? 1 : 0)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_nats_connected',
    help: '1 while the NATS connection is up',
    registers: [registry],
    collect () { this.set(runtime.nats.connected ? 1 : 0) }
  })

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_timers_pending',
    help: 'Durable timers armed and not yet fired, in this process\'s read model',
    registers: [registry],
    async collect () { this.set(await countTimers(runtime.db)) }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'jetway_timers_fired_total',
    help: 'Timers this process fired (a timer another instance fired first is not counted)',
    registers: [registry],
    collect () { this.reset(); this.inc(runtime.ticker?.fired ?? 0) }
  })

  // Streams and durable consumers, read from JetStream once per scrape (bounded: at most 64
  // streams and 64 consumers each) and shared by the gauges below; a scrape NATS does not
  // answer within NATS_ANSWER_MS leaves them empty rather than stale.
  let scrape: { at: number, state: Promise<NatsState | undefined> } | undefined
  const natsNow = async (): Promise<NatsState | undefined> => {
    if (scrape === undefined || Date.now() - scrape.at > 1000) {
      scrape = { at: Date.now(), state: runtime.nats.connected ? withTimeout(natsState(runtime.jsm), NATS_ANSWER_MS).catch(() => undefined) : Promise.resolve(undefined) }
    }
    return await scrape.state
  }
  const streamGauge = (name: string, help: string, value: (s: NatsState['streams'][number]) => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({
      name,
      help,
      labelNames: ['stream'],
      registers: [registry],
      async collect () {
        this.reset()
        for (const s of (await natsNow())?.streams ?? []) this.set({ stream: s.name }, value(s))
      }
    })
  }
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_read_model_bytes',
    help: 'Bytes on disk of the SQLite read models: the database file, its WAL and the WAL index (absent with a PostgreSQL read model)',
    labelNames: ['file'],
    registers: [registry],
    async collect () {
      this.reset()
      const size = await readModelSize(config)
      if (size === null) return
      this.set({ file: 'db' }, size.db)
      this.set({ file: 'wal' }, size.wal)
      this.set({ file: 'shm' }, size.shm)
    }
  })
  streamGauge('jetway_stream_messages', 'Messages stored in the stream', s => s.messages)
  streamGauge('jetway_stream_bytes', 'Bytes stored in the stream', s => s.bytes)
  streamGauge('jetway_stream_last_seq', 'Last sequence of the stream', s => s.lastSeq)
  const consumerGauge = (name: string, help: string, value: (c: NatsState['consumers'][number]) => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'consumer'],
      registers: [registry],
      async collect () {
        this.reset()
        for (const c of (await natsNow())?.consumers ?? []) this.set({ stream: c.stream, consumer: c.name }, value(c))
      }
    })
  }
  consumerGauge('jetway_consumer_pending', 'Messages of a durable consumer not yet delivered (its backlog)', c => c.pending)
  consumerGauge('jetway_consumer_ack_pending', 'Messages delivered to a durable consumer and not yet acknowledged', c => c.ackPending)
  consumerGauge('jetway_consumer_redelivered', 'Messages a durable consumer delivered more than once', c => c.redelivered)
  consumerGauge('jetway_consumer_waiting', 'Pull requests waiting on a durable consumer: 0 means no worker is pulling', c => c.waiting)

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_sse_connections',
    help: 'Open SSE connections of this process, by feed (jobs, tasks, callbacks, tail)',
    labelNames: ['feed'],
    registers: [registry],
    collect () {
      for (const [feed, hub] of Object.entries(runtime.hubs)) this.set({ feed }, hub.listenerCount())
      this.set({ feed: 'tail' }, runtime.tail.listenerCount)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_timers_due',
    help: 'Timers whose time has come and that are not fired yet (the ticker\'s backlog)',
    registers: [registry],
    async collect () { this.set(await countDueTimers(runtime.db, runtime.clock.now().getTime())) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_timer_fire_lag_seconds',
    help: 'How late after its due time the last timer this process fired was fired',
    registers: [registry],
    collect () { this.set((runtime.ticker?.lastFireLagMs ?? 0) / 1000) }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'jetway_outbound_requests_total',
    help: 'Outbound HTTP calls (relay, callbacks, triggers, task callbacks) by outcome: 2xx … 5xx, or timeout, unreachable, refused, too_large, invalid, aborted',
    labelNames: ['outcome'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [outcome, n] of outboundOutcomes) this.inc({ outcome }, n)
    }
  })

  app.addHook('onResponse', async (request, reply) => {
    latency.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })

  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: Status } } }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', { schema: { tags: ['health'], summary: 'Readiness: NATS connected and every read model served here current (503 with the reasons)', response: { 200: Status, 503: Status } } }, async (_request, reply) => {
    const status = await check()
    return await reply.code(status.status === 'ok' ? 200 : 503).send(status)
  })

  app.get('/metrics', {
    schema: { tags: ['health'], summary: 'Prometheus metrics (text exposition format)' },
    config: openapiDocs({ responses: { 200: { description: 'The metrics', content: { 'text/plain': { schema: Type.String() } } } } })
  }, async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timed out')), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export const health = fp(plugin, { name: 'jetway-health' })
