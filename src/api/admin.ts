import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { decodeEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { deadLetterCounts, natsState, type NatsState } from '../store/nats-state.js'
import { recentDeadLetters } from '../store/dlq-reader.js'
import { replayDeadLetter } from '../workers/dead-letters.js'
import { countTimers } from '../projections/timers.js'
import { recentMeetings } from '../projections/meetings.js'
import { deliveryCounts } from '../projections/notifications.js'
import {
  Activity, ConsumerList, DeadLetterList, DeadLetterParams, DeadLetterQuery, MeetingSummaryList, Overview, RecentQuery, RelayRequestList, RelayRequestQuery,
  Replayed, StreamList, TriggerDeliveryList, TriggerDeliveryQuery
} from '../schema/api/admin.js'
import { listTriggers, recentRelayRequests } from '../projections/relay.js'
import { collectedPerMinute } from '../projections/collect-events.js'
import { recentTriggerDeliveries } from '../store/delivery-reader.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import type { RequestMeter } from './http/request-meter.js'
import { fromView as meetingBody } from './meetings.js'
import { VERSION } from './http/openapi.js'
import { sseConnectionsOf } from './http/sse.js'
import { GrowthMeter } from '../lib/growth.js'
import { readModelSize } from '../projections/read-model-size.js'

// The operator's reads for the console, admin only (everyone is admin in AUTH_MODE=off):
// streams, durable consumers, read models, dead letters, and the dead-letter replay. NATS state
// is read through jsm; nothing here writes SQLite (a replay is an append to a stream).

export interface AdminOptions {
  runtime: Runtime
  auth: Auth
  meter: RequestMeter
}

/** NATS answers slower than this are not waited for: the overview shows what it has. */
const NATS_ANSWER_MS = 3000

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('NATS did not answer in time')), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export const admin: FastifyPluginAsyncTypebox<AdminOptions> = async (app, { runtime, auth, meter }) => {
  const { js, jsm, db, config, readModels } = runtime
  const startedAt = new Date().toISOString()

  app.addHook('onRequest', auth.authenticate)
  app.addHook('preHandler', async (request: FastifyRequest) => {
    if (!auth.identity(request).admin) throw new JetwayError(ErrorCodes.forbidden, 'the operator views are for admins (a token with role admin)')
  })

  // How fast the streams and the read models grow: sampled every minute from the start, and at
  // each overview (at most every 10 s), kept for an hour (src/lib/growth.ts).
  const growth = new GrowthMeter()
  async function storage (state: NatsState | undefined) {
    const size = await readModelSize(config)
    for (const s of state?.streams ?? []) {
      growth.sample(`stream:${s.name}:bytes`, s.bytes)
      growth.sample(`stream:${s.name}:messages`, s.messages)
    }
    if (size !== null) growth.sample('read-model:bytes', size.total)
    return {
      streams: (state?.streams ?? []).map(s => ({ name: s.name, bytes: s.bytes, messages: s.messages, bytesGrowth: growth.growth(`stream:${s.name}:bytes`), messagesGrowth: growth.growth(`stream:${s.name}:messages`) })),
      readModel: size === null ? null : { ...size, growth: growth.growth('read-model:bytes') }
    }
  }
  const sampler = setInterval(() => {
    if (!runtime.nats.connected) return
    withTimeout(natsState(jsm), NATS_ANSWER_MS).then(storage, () => storage(undefined)).catch(() => {})
  }, 60_000)
  sampler.unref()
  app.addHook('onClose', async () => { clearInterval(sampler) })
  storage(undefined).catch(() => {})

  async function nats (): Promise<NatsState> {
    try {
      return await withTimeout(natsState(jsm), NATS_ANSWER_MS)
    } catch (err) {
      throw new JetwayError(ErrorCodes.unavailable, `NATS does not answer: ${(err as Error).message}`)
    }
  }

  app.get('/api/admin/overview', {
    schema: { tags: ['admin'], summary: 'Everything the console\'s overview shows: streams, consumers, read models, dead letters, request rate', response: { 200: Overview } }
  }, async () => {
    const connected = runtime.nats.connected
    const state = connected ? await nats().catch(() => undefined) : undefined
    const ends = new Map(state?.streams.map(s => [s.name, s.lastSeq]))
    const projections = (await readModels.states()).map(s => {
      const end = ends.get(s.stream)
      return { name: s.name, stream: s.stream, appliedSeq: s.appliedSeq, lag: end === undefined ? -1 : Math.max(0, end - s.appliedSeq), rebuilding: s.rebuilding }
    })
    return {
      instance: {
        version: VERSION,
        roles: [...config.roles],
        authMode: config.auth.mode,
        startedAt,
        nats: { connected, server: runtime.nc.getServer(), version: runtime.nc.info?.version ?? '' },
        durability: runtime.durability
      },
      storage: await storage(state),
      streams: state?.streams ?? [],
      consumers: state?.consumers ?? [],
      projections,
      deadLetters: state === undefined ? { letters: 0, replayed: 0 } : await withTimeout(deadLetterCounts(jsm), NATS_ANSWER_MS).catch(() => ({ letters: 0, replayed: 0 })),
      requests: meter.rate(),
      sse: { connections: sseConnectionsOf(runtime).count },
      timers: { pending: await countTimers(db) }
    }
  })

  app.get('/api/admin/activity', {
    schema: { tags: ['admin'], summary: 'Per minute over the last hour: the events collected (the ten names collected most), and this instance\'s requests and errors', response: { 200: Activity } }
  }, async () => {
    const requests = meter.perMinute()
    const first = requests.from.slice(0, 16)
    const firstMs = Date.parse(`${first}:00Z`)
    const minutes = requests.requests.length
    const byEvent = new Map<string, number[]>()
    for (const row of await collectedPerMinute(db, first)) {
      const i = Math.round((Date.parse(`${row.minute}:00Z`) - firstMs) / 60_000)
      if (i < 0 || i >= minutes) continue
      let counts = byEvent.get(row.event)
      if (counts === undefined) byEvent.set(row.event, counts = new Array<number>(minutes).fill(0))
      counts[i]! += row.count
    }
    const sum = (counts: number[]): number => counts.reduce((a, b) => a + b, 0)
    const ranked = [...byEvent].map(([event, counts]) => ({ event, counts, total: sum(counts) })).sort((a, b) => b.total - a.total || (a.event < b.event ? -1 : 1))
    const top = ranked.slice(0, 10)
    const other = new Array<number>(minutes).fill(0)
    for (const s of ranked.slice(10)) s.counts.forEach((n, i) => { other[i]! += n })
    return {
      from: requests.from,
      requests: { total: requests.requests, clientErrors: requests.clientErrors, serverErrors: requests.serverErrors },
      collected: { series: top, other: { counts: other, total: sum(other), names: ranked.length - top.length }, total: ranked.reduce((n, s) => n + s.total, 0) }
    }
  })

  app.get('/api/admin/streams', {
    schema: { tags: ['admin'], summary: 'Every stream: messages, bytes, sequences, last message time (nats stream ls)', response: { 200: StreamList } }
  }, async () => {
    const { streams, truncated } = await nats()
    return { items: streams, truncated }
  })

  app.get('/api/admin/consumers', {
    schema: { tags: ['admin'], summary: 'Every durable consumer: pending, ack pending, redelivered, waiting (nats consumer ls)', response: { 200: ConsumerList } }
  }, async () => {
    const { consumers, truncated } = await nats()
    return { items: consumers, truncated }
  })

  app.get('/api/admin/dlq', {
    schema: { tags: ['admin'], summary: 'The latest dead letters, newest first, with whether each was replayed', querystring: DeadLetterQuery, response: { 200: DeadLetterList } }
  }, async request => {
    const [items, counts] = await Promise.all([
      withTimeout(recentDeadLetters(js, jsm, request.query.limit), NATS_ANSWER_MS * 3),
      deadLetterCounts(jsm)
    ])
    return { items, ...counts }
  })

  app.post('/api/admin/dlq/:seq/replay', {
    schema: {
      tags: ['admin'],
      summary: 'Replay a dead letter: put it back on its subject, marked jetway-replay-of (npm run dlq -- replay)',
      params: DeadLetterParams,
      response: { 200: Replayed }
    }
  }, async request => {
    const { seq } = request.params
    const stored = await jsm.streams.getMessage('DLQ', { seq }).catch(() => null)
    const ev = stored === null ? undefined : decodeEvent(stored)
    if (ev === undefined || !isEvent(ev, Events.messageDeadLettered)) throw new JetwayError(ErrorCodes.notFound, `no dead letter at DLQ sequence ${seq}`)
    request.log.info({ dlqSeq: seq, subject: ev.data.subject, by: auth.identity(request).userId }, 'dead letter replayed')
    const replayed = await replayDeadLetter(js, jsm, seq, runtime.clock)
    return { dlqSeq: seq, subject: replayed.subject, seq: replayed.seq, stream: ev.data.stream }
  })

  app.get('/api/admin/relay/requests', {
    schema: { tags: ['admin'], summary: 'The latest relay requests (/sync and /async), newest first, with attempts and outcome', querystring: RelayRequestQuery, response: { 200: RelayRequestList } }
  }, async request => {
    const rows = await recentRelayRequests(db, request.query)
    return {
      items: rows.map(r => {
        if (r.kind === 'sync') {
          const s = r.state
          return {
            requestId: s.requestId,
            kind: 'sync' as const,
            status: s.status,
            method: s.request.method,
            url: s.request.url,
            requestedAt: s.request.requestedAt,
            updatedAt: null,
            attempts: s.status === 'pending' ? 0 : 1,
            responseStatus: s.response?.status ?? null,
            error: s.error === undefined ? null : `${s.error.code}: ${s.error.message}`,
            nextAttemptAt: null,
            callback: null,
            dlqSeq: null
          }
        }
        const s = r.state
        const onTarget = s.attempts.filter(a => a.to === 'target')
        return {
          requestId: s.requestId,
          kind: 'async' as const,
          status: s.status,
          method: s.request.method,
          url: s.request.url,
          requestedAt: s.request.requestedAt,
          updatedAt: s.updatedAt,
          attempts: onTarget.length,
          responseStatus: s.response?.status ?? onTarget.at(-1)?.status ?? null,
          error: s.error?.message ?? onTarget.at(-1)?.error ?? null,
          nextAttemptAt: s.status === 'pending' ? s.nextAttemptAt ?? null : null,
          callback: s.callback.url === undefined
            ? null
            : { url: s.callback.url, status: s.callback.status, attempts: s.attempts.filter(a => a.to === 'callback').length, lastError: s.callback.lastError ?? null },
          dlqSeq: s.dlqSeq ?? null
        }
      })
    }
  })

  app.get('/api/admin/relay/deliveries', {
    schema: { tags: ['admin'], summary: 'Triggers with their consumer\'s state, and the trigger deliveries that needed a retry or were dead-lettered (last 24 h)', querystring: TriggerDeliveryQuery, response: { 200: TriggerDeliveryList } }
  }, async request => {
    const [triggers, state, deliveries] = await Promise.all([
      listTriggers(db),
      nats(),
      withTimeout(recentTriggerDeliveries(js, jsm, runtime.clock.now(), request.query.limit), NATS_ANSWER_MS * 3)
    ])
    return {
      triggers: triggers.map(({ trigger }) => ({
        name: trigger.name,
        subscriber: 'url' in trigger.subscriber ? trigger.subscriber.url : 'relay',
        consumer: state.consumers.find(c => c.stream === 'RELAY' && c.name === trigger.name) ?? null
      })),
      ...deliveries
    }
  })

  app.get('/api/admin/meetings', {
    schema: { tags: ['admin'], summary: 'Everyone\'s latest meetings, with their delivery counts', querystring: RecentQuery, response: { 200: MeetingSummaryList } }
  }, async request => {
    const meetings = await recentMeetings(db, request.query.limit)
    const counts = await deliveryCounts(db, 'meeting', meetings.map(m => m.meeting_id))
    return { items: meetings.map(m => ({ ...meetingBody(m), deliveries: counts.get(m.meeting_id) ?? { pending: 0, sent: 0, failed: 0 } })) }
  })
}
