import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CommandResult } from '../store/command.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { checkTemplate, type TaskState } from '../domain/task.js'
import { callbacksOf, findTask, listTasks } from '../projections/tasks.js'
import { notificationsAbout, deliveryRecordOf } from '../projections/notifications.js'
import { CreateTask, Completed, SendFailure, SendHeartbeat, SendSuccess, Task, TaskList, TaskListQuery, TaskParams, TaskSseQuery } from '../schema/api/tasks.js'
import { DeliveryRecords } from '../schema/api/meetings.js'
import { MinSeqQuery } from '../schema/api/common.js'
import type { TaskCallbackRow, TaskRow } from '../schema/database.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { idempotencyKeyOf } from './http/idempotency.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { checkOutput, type TaskCommands } from './task-commands.js'
import { sseConnectionsOf, lastEventIdOf, streamEvents } from './http/sse.js'
import { sseResponse } from './http/openapi.js'
import { Subjects } from '../store/subjects.js'
import type { TaskHubEvent } from '../store/task-hub.js'

// Callback tasks of seed 003 (Step Functions' .waitForTaskToken): a process creates a task and
// waits; a system completes it with the task token (POST /api/tasks/success|failure|heartbeat,
// or the Step Functions wire API in sfn.ts), or an approver decides on the page their email
// links to (approval.ts). Every change is a command on the task aggregate (tasks.<id>).

export interface TasksOptions {
  runtime: Runtime
  auth: Auth
  commands: TaskCommands
}

type TaskBody = typeof Task.static

function parse (text: string | null): unknown {
  return text === null ? null : JSON.parse(text)
}

export function taskFromRow (row: TaskRow, token: string, callbacks?: TaskCallbackRow[]): TaskBody {
  return {
    taskId: row.task_id,
    taskToken: token,
    status: row.status as TaskBody['status'],
    version: row.version,
    owner: row.owner,
    type: row.type,
    title: row.title,
    input: JSON.parse(row.input) as Record<string, unknown>,
    ...(row.status === 'SUCCEEDED' ? { output: parse(row.output) } : {}),
    error: row.error,
    cause: row.cause,
    decidedBy: parse(row.decided_by) as TaskBody['decidedBy'],
    approvers: JSON.parse(row.approvers) as string[],
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    deadline: row.deadline,
    timeoutSeconds: row.timeout_seconds,
    heartbeatSeconds: row.heartbeat_seconds,
    heartbeatDeadline: row.heartbeat_deadline,
    lastHeartbeatAt: row.last_heartbeat_at,
    callbackUrl: row.callback_url,
    schedule: row.schedule_id === null || row.schedule_tick === null ? null : { scheduleId: row.schedule_id, tick: row.schedule_tick },
    ...(callbacks === undefined
      ? {}
      : { callbacks: callbacks.map(c => ({ attempt: c.attempt, outcome: c.outcome, statusCode: c.status_code, error: c.error, final: c.final === 1, at: c.at })) })
  }
}

export function taskFromState (s: TaskState, token: string): TaskBody {
  return {
    taskId: s.taskId,
    taskToken: token,
    status: s.status,
    version: s.version,
    owner: s.owner,
    type: s.type,
    title: s.title,
    input: s.input,
    ...(s.status === 'SUCCEEDED' ? { output: s.output ?? null } : {}),
    error: s.error ?? null,
    cause: s.cause ?? null,
    decidedBy: s.decidedBy ?? null,
    approvers: s.approvers,
    createdAt: s.createdAt,
    decidedAt: s.decidedAt ?? null,
    deadline: s.deadline,
    timeoutSeconds: s.timeoutSeconds,
    heartbeatSeconds: s.heartbeatSeconds ?? null,
    heartbeatDeadline: s.heartbeatDeadline ?? null,
    lastHeartbeatAt: s.lastHeartbeatAt ?? null,
    callbackUrl: s.callbackUrl ?? null,
    schedule: s.schedule ?? null
  }
}

/** The owner of what a request creates: the caller (jwt), or `owner` (off mode; an admin acting for someone). */
export function ownerOf (auth: Auth, request: FastifyRequest, given: string | undefined): string {
  const id = auth.identity(request)
  if (auth.mode === 'off' || (id.admin && given !== undefined)) {
    if (given === undefined) throw new JetwayError(ErrorCodes.validation, 'owner is required with AUTH_MODE=off', [{ field: 'owner', message: 'is required' }])
    return given
  }
  return id.userId!
}

/** Whose rows a listing shows: the caller's (jwt), or `owner` / everyone's (off mode, admin). */
export function listOwner (auth: Auth, request: FastifyRequest, given: string | undefined): string | undefined {
  const id = auth.identity(request)
  return auth.mode === 'off' || id.admin ? given : id.userId
}

export const tasks: FastifyPluginAsyncTypebox<TasksOptions> = async (app, { runtime, auth, commands }) => {
  const { db, config } = runtime
  const hub = runtime.hubs.tasks
  const connections = sseConnectionsOf(runtime)
  app.addHook('preClose', async () => { connections.closeAll() })

  /** The task from this instance's read model, waiting (bounded) for it to catch up with TASKS when absent. */
  async function lookUp (taskId: string): Promise<TaskRow | undefined> {
    const found = await findTask(db, taskId)
    if (found !== undefined) return found
    await runtime.readModels.waitFor('tasks', await runtime.readModels.streamEnd('TASKS'), config.readWaitMs)
    return await findTask(db, taskId)
  }

  const canSee = (request: FastifyRequest, owner: string): boolean => {
    const id = auth.identity(request)
    return id.admin || id.userId === owner
  }

  // The API of the process that owns the tasks: a user (jwt) sees and creates their own.
  await app.register(async scope => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>()
    api.addHook('onRequest', auth.authenticate)

    api.post('/api/tasks', { schema: { tags: ['tasks'], summary: 'Create a task that waits for its callback; approvers get an email (Idempotency-Key honoured)', body: CreateTask, response: { 201: Task } } }, async (request, reply) => {
      const { owner: given, ...template } = request.body
      const owner = ownerOf(auth, request, given)
      runtime.suppressions.refuse(owner, 'owner')
      checkTemplate(template, config.tasks.timeoutMs)
      const result = await commands.create(owner, template, idempotencyKeyOf(request), {
        source: '/jetway/api/tasks', actor: auth.identity(request).userId, correlationId: request.id
      })
      const state = result.state!
      const last = result.appended.at(-1)
      if (last !== undefined) sendSeq(reply, 'TASKS', last)
      reply.header('etag', `"${result.version}"`)
      reply.header('jetway-duplicate', String(result.appended.length === 0))
      return await reply.code(201).header('location', `/api/tasks/${state.taskId}`).send(taskFromState(state, commands.tokenOf(state.taskId)))
    })

    api.get('/api/tasks/:id', { schema: { tags: ['tasks'], summary: 'A task: status, input, outcome, times, callback attempts', params: TaskParams, querystring: MinSeqQuery, response: { 200: Task } } }, async (request, reply) => {
      await waitForProjection(runtime, 'tasks', request, request.query.min_seq)
      const row = await lookUp(request.params.id)
      if (row === undefined || !canSee(request, row.owner)) throw new JetwayError(ErrorCodes.notFound, `no task ${request.params.id}`)
      reply.header('etag', `"${row.version}"`)
      return taskFromRow(row, commands.tokenOf(row.task_id), await callbacksOf(db, row.task_id))
    })

    api.get('/api/tasks', { schema: { tags: ['tasks'], summary: 'Tasks, newest first (the caller\'s; an admin\'s: all, or ?owner=)', querystring: TaskListQuery, response: { 200: TaskList } } }, async request => {
      const q = request.query
      await waitForProjection(runtime, 'tasks', request, q.min_seq)
      const page = await listTasks(db, {
        owner: listOwner(auth, request, q.owner), status: q.status, type: q.type, before: q.cursor === undefined ? undefined : Number(q.cursor), limit: q.limit
      })
      return { items: page.items.map(r => taskFromRow(r, commands.tokenOf(r.task_id))), nextCursor: page.next === undefined ? null : String(page.next) }
    })

    api.get('/api/tasks/:id/notifications', { schema: { tags: ['tasks'], summary: 'Delivery records of a task\'s approval emails', params: TaskParams, querystring: MinSeqQuery, response: { 200: DeliveryRecords } } }, async request => {
      await waitForProjection(runtime, 'notifications', request, request.query.min_seq)
      const row = await lookUp(request.params.id)
      if (row === undefined || !canSee(request, row.owner)) throw new JetwayError(ErrorCodes.notFound, `no task ${request.params.id}`)
      const rows = await notificationsAbout(db, 'task', row.task_id)
      return {
        items: rows.map(deliveryRecordOf)
      }
    })
  })

  // SSE: every event of one task, or of the caller's tasks. An EventSource cannot send headers,
  // so a token may also come as ?access_token=.
  await app.register(async scope => {
    const sse = scope.withTypeProvider<TypeBoxTypeProvider>()
    sse.addHook('onRequest', async request => {
      const token = (request.query as Record<string, unknown>).access_token
      if (request.headers.authorization === undefined && typeof token === 'string') request.headers.authorization = `Bearer ${token}`
      await auth.authenticate(request)
    })

    // one task, from its creation (task.created, heartbeats, the outcome)
    sse.get('/api/tasks/:id/events', { schema: { tags: ['tasks'], summary: 'Every event of one task over SSE, from its creation', params: TaskParams, querystring: TaskSseQuery, response: { 200: sseResponse('task.created, task.heartbeat.received, task.succeeded, task.failed, task.timed_out') } } }, async (request, reply) => {
      const { id } = request.params
      const lastEventId = lastEventIdOf(request, request.query.lastEventId)
      const row = await lookUp(id)
      if (row === undefined || !canSee(request, row.owner)) throw new JetwayError(ErrorCodes.notFound, `no task ${id}`)
      await streamEvents(request, reply, lastEventId, {
        hub,
        connections,
        user: auth.identity(request).userId ?? row.owner,
        key: `task:${id}`,
        replay: (after, to) => hub.replay(Subjects.task(id), after, to),
        replayFromStart: true
      })
    })

    // the caller's tasks (an owner's, in off mode or for an admin), live; a resume replays the
    // gap over every task's events, keeping the owner's
    sse.get('/api/tasks/sub', { schema: { tags: ['tasks'], summary: 'Every event of the caller\'s tasks, live, over SSE (resume by Last-Event-ID)', querystring: TaskSseQuery, response: { 200: sseResponse('the events of every task of the owner') } } }, async (request, reply) => {
      const lastEventId = lastEventIdOf(request, request.query.lastEventId)
      const owner = listOwner(auth, request, request.query.owner) ?? auth.identity(request).userId
      if (owner === undefined) throw new JetwayError(ErrorCodes.validation, 'whose tasks? give owner with AUTH_MODE=off', [{ field: 'owner', message: 'is required with AUTH_MODE=off' }])
      await streamEvents(request, reply, lastEventId, {
        hub,
        connections,
        user: auth.identity(request).userId ?? owner,
        key: `owner:${owner}`,
        replay: async function * (after, to) {
          for await (const ev of hub.replay('tasks.*', after, to)) if ((ev as TaskHubEvent).owner === owner) yield ev
        },
        replayFromStart: false
      })
    })
  })

  // Completion, for systems: the task token is the credential (no user token is asked for).
  await app.register(async scope => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>()
    const meta = (request: FastifyRequest) => ({ source: '/jetway/api/tasks', correlationId: request.id })
    const answer = (result: CommandResult<TaskState>, reply: FastifyReply) => {
      const last = result.appended.at(-1)
      if (last !== undefined) sendSeq(reply, 'TASKS', last)
      return { taskId: result.state!.taskId, status: result.state!.status, version: result.version }
    }
    api.post('/api/tasks/success', { schema: { tags: ['tasks'], summary: 'Complete a task with its output (SendTaskSuccess); the task token is the credential', security: [], body: SendSuccess, response: { 200: Completed } } }, async (request, reply) => {
      checkOutput(request.body.output)
      return answer(await commands.complete(request.body.taskToken, { kind: 'succeed', output: request.body.output ?? null }, { via: 'token' }, meta(request)), reply)
    })
    api.post('/api/tasks/failure', { schema: { tags: ['tasks'], summary: 'Fail a task (SendTaskFailure); the task token is the credential', security: [], body: SendFailure, response: { 200: Completed } } }, async (request, reply) => {
      const { error, cause } = request.body
      return answer(await commands.complete(request.body.taskToken, { kind: 'fail', error, cause }, { via: 'token' }, meta(request)), reply)
    })
    api.post('/api/tasks/heartbeat', { schema: { tags: ['tasks'], summary: 'Heartbeat a task (SendTaskHeartbeat); the task token is the credential', security: [], body: SendHeartbeat, response: { 200: Completed } } }, async (request, reply) =>
      answer(await commands.complete(request.body.taskToken, { kind: 'heartbeat' }, { via: 'token' }, meta(request)), reply))
  })
}
