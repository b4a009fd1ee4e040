import type { FastifyPluginAsync } from 'fastify'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { approval } from './approval.js'
import { schedules } from './schedules.js'
import { sfn } from './sfn.js'
import { taskCommands } from './task-commands.js'
import { tasks } from './tasks.js'

/** Every route of seed 003: the task API, the Step Functions wire API, the approval page, schedules. */
export const taskRoutes: FastifyPluginAsync<{ runtime: Runtime, auth: Auth }> = async (app, { runtime, auth }) => {
  const commands = taskCommands(runtime)
  await app.register(tasks, { runtime, auth, commands })
  await app.register(sfn, { commands })
  await app.register(approval, { runtime, commands })
  await app.register(schedules, { runtime, auth })
}
