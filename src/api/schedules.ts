import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { handleCommand } from '../store/command.js'
import { checkCron, nextTicks, scheduleAggregate, type ScheduleState } from '../domain/schedule.js'
import { checkTemplate } from '../domain/task.js'
import { findSchedule, listSchedules } from '../projections/schedules.js'
import { CreateSchedule, Schedule, ScheduleList, ScheduleListQuery, ScheduleParams } from '../schema/api/tasks.js'
import { MinSeqQuery } from '../schema/api/common.js'
import type { ScheduleRow } from '../schema/database.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { listOwner, ownerOf } from './tasks.js'

// Schedules (seed 003's EventBridge rule): each tick of a cron pattern creates one task from
// the template, exactly once across instances and restarts (src/domain/schedule.ts).

export interface SchedulesOptions {
  runtime: Runtime
  auth: Auth
}

type ScheduleBody = typeof Schedule.static

const NEXT = 5

function upcoming (cron: string, timezone: string, first: string | null, deleted: boolean): string[] {
  if (deleted || first === null) return []
  return [first, ...nextTicks(cron, timezone, new Date(first), NEXT - 1)]
}

function fromState (s: ScheduleState): ScheduleBody {
  return {
    scheduleId: s.scheduleId,
    version: s.version,
    owner: s.owner,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task,
    createdAt: s.createdAt,
    deleted: s.deleted,
    nextTicks: upcoming(s.cron, s.timezone, s.nextTick, s.deleted),
    lastTick: s.lastTick ?? null,
    lastTaskId: s.lastTaskId ?? null,
    lastSkipped: s.lastSkipped ?? null
  }
}

function fromRow (r: ScheduleRow): ScheduleBody {
  return {
    scheduleId: r.schedule_id,
    version: r.version,
    owner: r.owner,
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    task: JSON.parse(r.task) as Record<string, unknown>,
    createdAt: r.created_at,
    deleted: r.deleted === 1,
    nextTicks: upcoming(r.cron, r.timezone, r.next_tick, r.deleted === 1),
    lastTick: r.last_tick,
    lastTaskId: r.last_task_id,
    lastSkipped: r.last_skipped === null ? null : r.last_skipped === 1
  }
}

export const schedules: FastifyPluginAsyncTypebox<SchedulesOptions> = async (app, { runtime, auth }) => {
  const { js, jsm, db, clock, config } = runtime
  const store = { js, jsm, clock }
  app.addHook('onRequest', auth.authenticate)

  const canSee = (request: FastifyRequest, owner: string): boolean => {
    const id = auth.identity(request)
    return id.admin || id.userId === owner
  }

  app.post('/api/schedules', { schema: { tags: ['schedules'], summary: 'Create a schedule: a task from the template at each cron tick', body: CreateSchedule, response: { 201: Schedule } } }, async (request, reply) => {
    const b = request.body
    const owner = ownerOf(auth, request, b.owner)
    runtime.suppressions.refuse(owner, 'owner')
    checkCron(b.cron, b.timezone)
    checkTemplate(b.task, config.tasks.timeoutMs, 'task.')
    const scheduleId = randomUUID().replace(/-/g, '')
    const nextTick = nextTicks(b.cron, b.timezone, clock.now(), 1)[0] ?? null
    const result = await handleCommand(store, scheduleAggregate, scheduleId, {
      kind: 'create',
      data: { scheduleId, owner, name: b.name, cron: b.cron, timezone: b.timezone, task: b.task, nextTick }
    }, { source: '/jetway/api/schedules', actor: auth.identity(request).userId, correlationId: request.id, idempotencyKey: `schedule:${scheduleId}` })
    const last = result.appended.at(-1)
    if (last !== undefined) sendSeq(reply, 'TASKS', last)
    reply.header('etag', `"${result.version}"`)
    return await reply.code(201).header('location', `/api/schedules/${scheduleId}`).send(fromState(result.state!))
  })

  app.get('/api/schedules', { schema: { tags: ['schedules'], summary: 'The caller\'s schedules (an admin\'s: all, or ?owner=)', querystring: ScheduleListQuery, response: { 200: ScheduleList } } }, async request => {
    const q = request.query
    await waitForProjection(runtime, 'schedules', request, q.min_seq)
    const page = await listSchedules(db, { owner: listOwner(auth, request, q.owner), before: q.cursor === undefined ? undefined : Number(q.cursor), limit: q.limit })
    return { items: page.items.map(fromRow), nextCursor: page.next === undefined ? null : String(page.next) }
  })

  app.get('/api/schedules/:id', { schema: { tags: ['schedules'], summary: 'A schedule: next fire times, last tick and its task', params: ScheduleParams, querystring: MinSeqQuery, response: { 200: Schedule } } }, async (request, reply) => {
    await waitForProjection(runtime, 'schedules', request, request.query.min_seq)
    const row = await findSchedule(db, request.params.id)
    if (row === undefined || !canSee(request, row.owner)) throw new JetwayError(ErrorCodes.notFound, `no schedule ${request.params.id}`)
    reply.header('etag', `"${row.version}"`)
    return fromRow(row)
  })

  app.delete('/api/schedules/:id', { schema: { tags: ['schedules'], summary: 'Delete a schedule (its armed tick is cleared)', params: ScheduleParams, response: { 200: Schedule } } }, async (request, reply) => {
    const { id } = request.params
    const result = await handleCommand(store, scheduleAggregate, id, { kind: 'delete' }, {
      source: '/jetway/api/schedules',
      actor: auth.identity(request).userId,
      correlationId: request.id,
      guard: state => { if (state === undefined || !canSee(request, state.owner)) throw new JetwayError(ErrorCodes.notFound, `no schedule ${id}`) }
    })
    const last = result.appended.at(-1)
    if (last !== undefined) sendSeq(reply, 'TASKS', last)
    reply.header('etag', `"${result.version}"`)
    return fromState(result.state!)
  })
}
