import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import { Registry, Histogram, Gauge, collectDefaultMetrics } from 'prom-client'
import type { Runtime } from '../runtime.js'

// Not encapsulated (fastify-plugin), so the latency hook sees every route of the app.
// /healthz (the process answers), /readyz (NATS connected, projections caught up) and
// /metrics (Prometheus: request latency, per-projection applied sequence and lag).

export interface HealthOptions {
  runtime: Runtime
}

const Status = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('not ready')]),
  nats: Type.Optional(Type.Boolean()),
  projections: Type.Optional(Type.Record(Type.String(), Type.Object({
    appliedSeq: Type.Integer(),
    pending: Type.Integer(),
    caughtUp: Type.Boolean()
  })))
})

const plugin: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { runtime }) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'jetway_' })
  const latency = new Histogram({
    name: 'jetway_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  const runners = [...runtime.projections.values()]
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_applied_seq',
    help: 'Last stream sequence a projection has committed',
    labelNames: ['projection'],
    registers: [registry],
    collect () { for (const r of runners) this.set({ projection: r.name }, r.appliedSeq) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_projection_lag',
    help: 'Messages in the stream a projection has not applied yet',
    labelNames: ['projection'],
    registers: [registry],
    collect () { for (const r of runners) this.set({ projection: r.name }, r.pending) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'jetway_nats_connected',
    help: '1 while the NATS connection is up',
    registers: [registry],
    collect () { this.set(runtime.nc.isClosed() ? 0 : 1) }
  })

  app.addHook('onResponse', async (request, reply) => {
    latency.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })

  app.get('/healthz', { schema: { response: { 200: Status } } }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', { schema: { response: { 200: Status, 503: Status } } }, async (_request, reply) => {
    const nats = !runtime.nc.isClosed() && !runtime.nc.isDraining()
    const projections = Object.fromEntries(runners.map(r => [r.name, { appliedSeq: r.appliedSeq, pending: r.pending, caughtUp: r.caughtUp }]))
    const ready = nats && runners.every(r => r.caughtUp)
    return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'not ready', nats, projections })
  })

  app.get('/metrics', async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}

export const health = fp(plugin, { name: 'jetway-health' })
