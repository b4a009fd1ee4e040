import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { appendEvent } from '../store/events.js'
import { handleCommand } from '../store/command.js'
import { jobAggregate } from '../domain/job.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Events } from '../schema/events/index.js'
import { CompleteRequest, Job, JobParams, PubRequest, PubResponse, SseQuery, UserParams, IntakeResponse } from '../schema/api/jobs.js'
import { MinSeqQuery } from '../schema/api/common.js'
import { Subjects } from '../store/subjects.js'
import { findJob, jobViewOf } from '../projections/jobs.js'
import type { JobRow } from '../schema/database.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { intake, intakeGuard, unknownJobs } from './intake.js'
import { sseConnectionsOf, lastEventIdOf, streamEvents } from './http/sse.js'
import { sseResponse } from './http/openapi.js'
import { idempotencyKeyOf, idForKey } from './http/idempotency.js'

// Job notifications of seed 000: POST /noti/pub starts a job and answers its eventId at once;
// its outcome arrives at the intake (or times out); SSE streams the seed's status message.

export interface JobsOptions {
  runtime: Runtime
  auth: Auth
}

/** With an Idempotency-Key, the eventId is derived from it (and the user), so every retry gets the same one. */
export function eventIdFor (userId: string, idempotencyKey: string | undefined): string {
  return idempotencyKey === undefined ? randomUUID() : idForKey('jobs', userId, idempotencyKey, 'uuid')
}

export const jobs: FastifyPluginAsyncTypebox<JobsOptions> = async (app, { runtime, auth }) => {
  const { js, jsm, db, clock, config, readModels } = runtime
  const store = { js, jsm, clock }
  const hub = runtime.hubs.jobs
  const connections = sseConnectionsOf(runtime)
  app.addHook('preClose', async () => { connections.closeAll() })

  /** The job, from the read model, waiting (bounded) for it to catch up with JOBS. */
  async function lookUp (eventId: string): Promise<JobRow | undefined> {
    const found = await findJob(db, eventId)
    if (found !== undefined) return found
    await readModels.waitFor('jobs', await readModels.streamEnd('JOBS'), config.readWaitMs)
    return await findJob(db, eventId)
  }

  /** The job a subscription is for; in jwt mode only its user (or an admin) may have it. */
  async function authorizeJob (request: FastifyRequest, eventId: string): Promise<JobRow | undefined> {
    if (auth.mode === 'off') return await findJob(db, eventId)
    const job = await lookUp(eventId)
    if (job === undefined) throw new JetwayError(ErrorCodes.notFound, `no job ${eventId}`)
    auth.requireUser(request, job.user_id)
    return job
  }

  /** Whose connection it is for the per-user cap: the caller in jwt mode, else the user streamed. */
  const capUser = (request: FastifyRequest, streamed: string | undefined): string | undefined =>
    auth.identity(request).userId ?? streamed

  await app.register(async scope => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>()
    api.addHook('onRequest', auth.authenticate)

    api.post('/noti/pub', { schema: { tags: ['jobs'], summary: 'Start a job; answers its eventId at once (Idempotency-Key honoured)', body: PubRequest, response: { 200: PubResponse } } }, async (request, reply) => {
      const { eventType, userId, timeoutSeconds } = request.body
      auth.requireUser(request, userId)
      runtime.suppressions.refuse(userId, 'userId')
      const eventId = eventIdFor(userId, idempotencyKeyOf(request))
      const result = await handleCommand(store, jobAggregate, eventId, {
        kind: 'request', eventId, eventType, userId, at: clock.now(), timeoutSeconds, defaultTimeoutMs: config.jobs.timeoutMs
      }, {
        source: '/jetway/noti/pub',
        idempotencyKey: `job:${eventId}`,
        actor: auth.identity(request).userId,
        correlationId: request.id
      })
      sendSeq(reply, 'JOBS', result.version)
      reply.header('jetway-duplicate', String(result.appended.length === 0))
      return { eventId }
    })

    api.get('/noti/jobs/:eventId', { schema: { tags: ['jobs'], summary: 'A job: the seed\'s record plus its status', params: JobParams, querystring: MinSeqQuery, response: { 200: Job } } }, async request => {
      await waitForProjection(runtime, 'jobs', request, request.query.min_seq)
      const job = await lookUp(request.params.eventId)
      if (job === undefined) throw new JetwayError(ErrorCodes.notFound, `no job ${request.params.eventId}`)
      auth.requireUser(request, job.user_id)
      return jobViewOf(job)
    })
  })

  // The completion intake is for a machine caller: INTAKE_KEY, or a service token (intakeGuard).
  await app.register(intake, { runtime, auth })
  await app.register(async scope => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>()
    api.addHook('onRequest', intakeGuard(auth, config.jobs.intakeKey))
    api.post('/noti/complete/:eventId', { schema: { tags: ['intake'], summary: 'Complete a job (the plain form)', params: JobParams, body: CompleteRequest, response: { 200: IntakeResponse } } }, async (request, reply) => {
      const { eventId } = request.params
      // a job never requested can never take it: 404 now, nothing stored
      if ((await unknownJobs(runtime, [eventId])).size > 0) throw new JetwayError(ErrorCodes.notFound, `no job ${eventId}: it was never requested`)
      const appended = await appendEvent(js, {
        def: Events.jobCompleted,
        data: { eventId, eventStatus: request.body.eventStatus, eventDesc: request.body.eventDesc ?? '', origin: 'intake' },
        subject: Subjects.jobCompleted(eventId),
        source: '/jetway/noti/complete',
        about: eventId,
        idempotencyKey: `complete:${eventId}`,
        correlationId: request.id,
        time: clock.now()
      })
      sendSeq(reply, 'JOBS', appended.seq)
      return { accepted: 1 }
    })
  })

  // SSE: an EventSource cannot send headers, so a token may also come as ?access_token=.
  await app.register(async scope => {
    const sse = scope.withTypeProvider<TypeBoxTypeProvider>()
    sse.addHook('onRequest', async request => {
      const token = (request.query as Record<string, unknown>).access_token
      if (request.headers.authorization === undefined && typeof token === 'string') request.headers.authorization = `Bearer ${token}`
      await auth.authenticate(request)
    })
    const perJob = async (request: FastifyRequest<{ Params: { eventId: string }, Querystring: { lastEventId?: string } }>, reply: FastifyReply): Promise<void> => {
      const { eventId } = request.params
      const lastEventId = lastEventIdOf(request, request.query.lastEventId)
      const job = await authorizeJob(request, eventId)
      // A job has at most one status event: its last message on the status subject, found in
      // one look-up (by the exact subject once the read model knows the job's user), however
      // far into JOBS it sits.
      const subject = job === undefined ? Subjects.jobStatusOfJob(eventId) : Subjects.jobStatus(job.user_id, eventId)
      await streamEvents(request, reply, lastEventId, {
        hub,
        connections,
        user: capUser(request, job?.user_id),
        key: `job:${eventId}`,
        replay: (after, to) => hub.replayLast(subject, after, to),
        replayFromStart: true
      })
    }
    const jobRoute = { schema: { tags: ['jobs'], summary: 'A job\'s status over SSE (replayed if it already has one)', params: JobParams, querystring: SseQuery, response: { 200: sseResponse('job.status.changed events of this job; data is the seed\'s pub/sub message') } } }
    sse.get('/noti/sub/:eventId', jobRoute, perJob)
    sse.post('/noti/sub/:eventId', jobRoute, perJob)
    sse.get('/noti/users/:userId/sub', { schema: { tags: ['jobs'], summary: 'Every job status of a user, live, over SSE (resume by Last-Event-ID)', params: UserParams, querystring: SseQuery, response: { 200: sseResponse('job.status.changed events of the user\'s jobs; opens with an empty `position` event carrying the current id') } } }, async (request, reply) => {
      const lastEventId = lastEventIdOf(request, request.query.lastEventId)
      auth.requireUser(request, request.params.userId)
      const { userId } = request.params
      await streamEvents(request, reply, lastEventId, {
        hub,
        connections,
        user: capUser(request, userId),
        key: `user:${userId}`,
        replay: (after, to) => hub.replay(Subjects.jobStatusOfUser(userId), after, to),
        replayFromStart: false
      })
    })
  })
}
