import { randomUUID } from 'node:crypto'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { MAX_JSON_DEPTH, textNestsDeeperThan } from '../lib/json-nesting.js'
import { handleCommand, type CommandResult } from '../store/command.js'
import { MAX_JSON_BYTES, TaskClosed, newTask, taskAggregate, type TaskCommand, type TaskState, type TaskStatus } from '../domain/task.js'
import type { DecidedBy, TaskTemplate } from '../schema/events/tasks.js'
import { taskSecret, taskToken, verifyTaskToken } from '../lib/task-tokens.js'
import type { Runtime } from '../runtime.js'
import { idForKey } from './http/idempotency.js'

// What the three faces of a task share (the REST API, the Step Functions wire API and the
// approval page): creating one, and completing it with its token, as commands on the task
// aggregate. The first completion wins; anything after it is TaskTimedOut.

/** A token that is not one this service issued (Step Functions' InvalidToken). */
export class InvalidToken extends JetwayError {
  override name = 'InvalidToken'
  constructor (reason: 'malformed' | 'forged') {
    super(ErrorCodes.validation, `invalid task token (InvalidToken): ${reason === 'malformed' ? 'not a task token' : 'its signature does not match'}`,
      [{ field: 'taskToken', message: 'is not a task token this service issued' }])
  }
}

/** Output that is not JSON text, or more than 256 KiB of it (Step Functions' InvalidOutput). */
export class InvalidOutput extends JetwayError {
  override name = 'InvalidOutput'
  constructor (message: string) {
    super(ErrorCodes.validation, `invalid output (InvalidOutput): ${message}`, [{ field: 'output', message }])
  }
}

export type Completion =
  | { kind: 'succeed', output: unknown }
  | { kind: 'fail', error?: string, cause?: string }
  | { kind: 'heartbeat' }

const WANTED: Record<Completion['kind'], TaskStatus> = { succeed: 'SUCCEEDED', fail: 'FAILED', heartbeat: 'WAITING' }

export interface CallMeta {
  actor?: string
  correlationId?: string
  source: string
}

export interface TaskCommands {
  secret: string
  tokenOf: (taskId: string) => string
  create: (owner: string, template: TaskTemplate, idempotencyKey: string | undefined, meta: CallMeta) => Promise<CommandResult<TaskState>>
  /** completes the task a token names; throws InvalidToken, TaskNotFound (TaskDoesNotExist), TaskClosed (TaskTimedOut) */
  complete: (token: string, completion: Completion, by: DecidedBy, meta: CallMeta) => Promise<CommandResult<TaskState>>
  /** the same, for a task already identified (the approval page, whose own token was checked) */
  completeTask: (taskId: string, completion: Completion, by: DecidedBy, meta: CallMeta) => Promise<CommandResult<TaskState>>
}

/** Output as the REST API takes it (a JSON value): at most 256 KiB of JSON text. */
export function checkOutput (output: unknown): void {
  const size = Buffer.byteLength(JSON.stringify(output ?? null))
  if (size > MAX_JSON_BYTES) throw new InvalidOutput(`${size} bytes of JSON; at most ${MAX_JSON_BYTES}`)
}

/** Output as Step Functions sends it: JSON text, at most 256 KiB. */
export function parseOutput (text: unknown): unknown {
  if (typeof text !== 'string') throw new InvalidOutput('must be a string of JSON text')
  const size = Buffer.byteLength(text)
  if (size > MAX_JSON_BYTES) throw new InvalidOutput(`${size} bytes; at most ${MAX_JSON_BYTES}`)
  if (textNestsDeeperThan(text, MAX_JSON_DEPTH)) throw new InvalidOutput(`is JSON nested more than ${MAX_JSON_DEPTH} levels deep`)
  try {
    return JSON.parse(text)
  } catch {
    throw new InvalidOutput('is not JSON text')
  }
}

export function taskCommands (runtime: Runtime): TaskCommands {
  const { js, jsm, clock, config } = runtime
  const store = { js, jsm, clock }
  const secret = taskSecret(config)

  async function completeTask (taskId: string, completion: Completion, by: DecidedBy, meta: CallMeta): Promise<CommandResult<TaskState>> {
    const at = clock.now()
    const command: TaskCommand = completion.kind === 'succeed'
      ? { kind: 'succeed', at, output: completion.output, by }
      : completion.kind === 'fail'
        ? { kind: 'fail', at, error: completion.error, cause: completion.cause, by }
        : { kind: 'heartbeat', at }
    const result = await handleCommand(store, taskAggregate, taskId, command, meta)
    // decide() timed the task out instead: a deadline passed before its timer fired
    if (result.state !== undefined && result.state.status !== WANTED[completion.kind]) throw new TaskClosed(taskId, result.state.status)
    return result
  }

  return {
    secret,
    tokenOf: taskId => taskToken(secret, taskId),
    async create (owner, template, idempotencyKey, meta) {
      // with an Idempotency-Key the id derives from it, so every retry names the same task
      const taskId = idempotencyKey === undefined ? randomUUID().replace(/-/g, '') : idForKey('tasks', owner, idempotencyKey, 'hex')
      const data = newTask(taskId, owner, template, clock.now(), config.tasks.timeoutMs)
      return await handleCommand(store, taskAggregate, taskId, { kind: 'create', data }, { ...meta, idempotencyKey: `task:${taskId}` })
    },
    async complete (token, completion, by, meta) {
      const check = verifyTaskToken(secret, token)
      if (!check.ok) throw new InvalidToken(check.reason)
      return await completeTask(check.taskId, completion, by, meta)
    },
    completeTask
  }
}
