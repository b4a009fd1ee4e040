import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Runtime } from './runtime.js'
import { installErrorHandlers } from './api/errors.js'
import { validatorCompiler } from './api/validation.js'
import { buildAuth } from './api/auth.js'
import { health } from './api/health.js'
import { collect } from './api/collect.js'
import { jobs } from './api/jobs.js'
import { meetings } from './api/meetings.js'
import { relayApi } from './api/relay.js'
import { broker } from './api/broker.js'
import { callbacks } from './api/callbacks.js'

/**
 * The HTTP face of a runtime; never listens (src/server.ts does, tests inject()). Health and
 * metrics are served in every role; the feature routes only with the `api` role.
 */
export async function buildApp (runtime: Runtime): Promise<FastifyInstance> {
  const { config } = runtime
  const app = Fastify({
    loggerInstance: runtime.log as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  // JSON only: without this, Fastify would parse text/plain and answer 400 instead of 415.
  app.removeContentTypeParser('text/plain')
  installErrorHandlers(app)
  app.addHook('onSend', async (request, reply) => { reply.header('x-request-id', request.id) })

  await app.register(health, { runtime })
  if (config.roles.has('api')) {
    const auth = buildAuth(config.auth)
    await app.register(collect, { runtime, auth })
    await app.register(jobs, { runtime, auth })
    await app.register(meetings, { runtime, auth })
    await app.register(relayApi, { runtime, auth })
    await app.register(broker, { runtime, auth })
    await app.register(callbacks, { runtime, auth })
  }
  return app
}
