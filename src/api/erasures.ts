import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { appendEvent } from '../store/events.js'
import { Subjects } from '../store/subjects.js'
import { Events } from '../schema/events/index.js'
import { Erasure, ErasureAccepted, ErasureParams, ErasureQuery, EraseParams, EraseQuery, SuppressionParams } from '../schema/api/erasures.js'
import { findErasure, suppressedKeys } from '../projections/erasures.js'
import type { ErasureRow } from '../schema/database.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { openapiDocs } from './http/openapi.js'

// Erasing a user (GDPR art. 17; README, Data lifecycle), admin only (everyone is admin in
// AUTH_MODE=off). The request is an event that carries no personal data, erasure.requested
// with the keyed hash of the user id; the worker erasure-executor carries it out once across
// the fleet (src/workers/erasure.ts), and every instance's read models follow
// (src/projections/erasures.ts).

export interface ErasuresOptions {
  runtime: Runtime
  auth: Auth
}

function viewOf (row: ErasureRow, suppressed: boolean): Erasure {
  return {
    erasureId: row.erasure_id,
    status: row.status as 'pending' | 'done',
    suppress: row.suppress === 1,
    suppressed,
    requestedAt: row.requested_at,
    completedAt: row.completed_at,
    removed: {
      streams: JSON.parse(row.removed_streams ?? '{}') as Record<string, number>,
      readModels: JSON.parse(row.removed_read_models) as Record<string, number>
    },
    cutoffs: row.cutoffs === null ? null : JSON.parse(row.cutoffs) as Record<string, number>
  }
}

export const erasuresApi: FastifyPluginAsyncTypebox<ErasuresOptions> = async (app, { runtime, auth }) => {
  const { js, db, clock, keys, suppressions, readModels, config } = runtime
  app.addHook('onRequest', auth.authenticate)
  app.addHook('preHandler', async (request: FastifyRequest) => {
    if (!auth.identity(request).admin) throw new JetwayError(ErrorCodes.forbidden, 'erasing a user and lifting a suppression are for admins (a token with role admin)')
  })

  app.delete('/api/users/:userId', {
    schema: {
      tags: ['privacy'],
      summary: 'Erase a user: every collected event, job, meeting they organize, task and schedule they own, from every stream and read model (202; follow the Location)',
      params: EraseParams,
      querystring: EraseQuery,
      response: { 202: ErasureAccepted }
    }
  }, async (request, reply) => {
    const erasureId = randomBytes(16).toString('hex')
    const userKey = keys.of(request.params.userId)
    const suppress = request.query.suppress === true
    const now = clock.now()
    const appended = await appendEvent(js, {
      def: Events.erasureRequested,
      data: { erasureId, userKey, suppress, requestedAt: now.toISOString() },
      subject: Subjects.erasure(erasureId),
      source: '/jetway/api/users',
      about: erasureId,
      idempotencyKey: `erasure:${erasureId}`,
      actor: auth.identity(request).userId,
      correlationId: request.id,
      time: now
    })
    if (suppress) suppressions.note(userKey, true, appended.seq)
    // the erasure is readable at its Location once this answers (bounded by READ_WAIT)
    await readModels.waitFor('erasures', appended.seq, config.readWaitMs)
    request.log.info({ erasureId, suppress }, 'erasure of a user requested')
    sendSeq(reply, 'ERASURES', appended.seq)
    reply.header('location', `/api/erasures/${erasureId}`)
    return await reply.code(202).send({ erasureId, status: 'pending' as const })
  })

  app.get('/api/erasures/:erasureId', {
    schema: { tags: ['privacy'], summary: 'An erasure: pending or done, and what it removed per stream and per read model', params: ErasureParams, querystring: ErasureQuery, response: { 200: Erasure } }
  }, async request => {
    await waitForProjection(runtime, 'erasures', request, request.query.min_seq)
    const row = await findErasure(db, request.params.erasureId)
    if (row === undefined) throw new JetwayError(ErrorCodes.notFound, `no erasure ${request.params.erasureId}`)
    return viewOf(row, (await suppressedKeys(db)).includes(row.user_key))
  })

  app.delete('/api/suppressions/:userId', {
    schema: { tags: ['privacy'], summary: 'Lift a user\'s suppression: their writes are taken again (204; 404 when not suppressed)', params: SuppressionParams },
    config: openapiDocs({ responses: { 204: { description: 'Lifted' } } })
  }, async (request, reply) => {
    await waitForProjection(runtime, 'erasures', request, undefined)
    const userKey = keys.of(request.params.userId)
    if (!suppressions.isSuppressed(request.params.userId) && !(await suppressedKeys(db)).includes(userKey)) throw new JetwayError(ErrorCodes.notFound, `user ${request.params.userId} is not suppressed`)
    const now = clock.now()
    const appended = await appendEvent(js, {
      def: Events.suppressionLifted,
      data: { userKey, liftedAt: now.toISOString() },
      subject: Subjects.suppression(userKey),
      source: '/jetway/api/suppressions',
      about: userKey,
      actor: auth.identity(request).userId,
      correlationId: request.id,
      time: now
    })
    suppressions.note(userKey, false, appended.seq)
    await readModels.waitFor('erasures', appended.seq, config.readWaitMs)
    sendSeq(reply, 'ERASURES', appended.seq)
    return await reply.code(204).send()
  })
}
