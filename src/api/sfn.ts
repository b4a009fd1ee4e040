import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { JetwayError, ErrorCodes } from '../lib/errors.js'
import { TaskClosed, TaskNotFound } from '../domain/task.js'
import { Type } from '@sinclair/typebox'
import { InvalidOutput, InvalidToken, parseOutput, type Completion, type TaskCommands } from './task-commands.js'
import { SfnError, SfnRequest } from '../schema/api/tasks.js'
import { openapiDocs } from './http/openapi.js'

// Step Functions wire compatibility for the callback side of .waitForTaskToken: POST /sfn
// speaks AWS JSON 1.0 (X-Amz-Target: AWSStepFunctions.SendTaskSuccess | SendTaskFailure |
// SendTaskHeartbeat), so a worker written for Step Functions, with the real AWS SDK or CLI,
// completes Jetway's tasks by pointing its endpoint here. SigV4 headers are accepted and
// ignored: the task token is the credential. Errors are AWS's: 400 with
// {"__type": "com.amazonaws.sfn#<Name>", "message"} and x-amzn-RequestId on every answer.

export interface SfnOptions {
  commands: TaskCommands
}

const CONTENT_TYPE = 'application/x-amz-json-1.0'
const TARGET_PREFIX = 'AWSStepFunctions.'

class AwsError extends Error {
  constructor (readonly name: string, message: string, readonly status = 400) {
    super(message)
  }
}

function send (request: FastifyRequest, reply: FastifyReply, status: number, body: object): FastifyReply {
  return reply.code(status).header('content-type', CONTENT_TYPE).header('x-amzn-requestid', request.id).serializer(JSON.stringify).send(body)
}

function awsErrorOf (err: unknown): AwsError {
  if (err instanceof AwsError) return err
  if (err instanceof InvalidToken) return new AwsError('InvalidToken', err.message)
  if (err instanceof InvalidOutput) return new AwsError('InvalidOutput', err.message)
  if (err instanceof TaskNotFound) return new AwsError('TaskDoesNotExist', err.message)
  if (err instanceof TaskClosed) return new AwsError('TaskTimedOut', err.message)
  if (err instanceof JetwayError && err.code === ErrorCodes.validation) return new AwsError('ValidationException', err.message)
  const status = (err as { statusCode?: number }).statusCode
  if (status === 413) return new AwsError('ValidationException', 'the request is too large', 413)
  if (status !== undefined && status >= 400 && status < 500) return new AwsError('ValidationException', (err as Error).message, status)
  return new AwsError('InternalFailure', 'internal error', 500)
}

function field (body: Record<string, unknown>, name: string, max: number, required: boolean): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) {
    if (required) throw new AwsError('ValidationException', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`)
    return undefined
  }
  if (typeof value !== 'string') throw new AwsError('ValidationException', `'${name}' must be a string`)
  if (value.length > max) throw new AwsError('ValidationException', `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`)
  return value
}

export const sfn: FastifyPluginAsync<SfnOptions> = async (app, { commands }) => {
  // the SDK's content type; the body is read here so that malformed JSON is AWS's SerializationException
  app.addContentTypeParser([CONTENT_TYPE, 'application/x-amz-json-1.1'], { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
  app.setErrorHandler((err, request, reply) => {
    const aws = awsErrorOf(err)
    if (aws.status >= 500) request.log.error({ err }, 'sfn request failed')
    return send(request, reply, aws.status, { __type: `com.amazonaws.sfn#${aws.name}`, message: aws.message })
  })

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const target = request.headers['x-amz-target']
    const operation = typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined
    let body: unknown = request.body ?? {}
    if (typeof body === 'string') {
      try {
        body = body === '' ? {} : JSON.parse(body)
      } catch {
        throw new AwsError('SerializationException', 'the body is not JSON')
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AwsError('SerializationException', 'the body is not a JSON object')
    const b = body as Record<string, unknown>
    let completion: Completion
    switch (operation) {
      case 'SendTaskSuccess':
        completion = { kind: 'succeed', output: parseOutput(b.output) }
        break
      case 'SendTaskFailure':
        completion = { kind: 'fail', error: field(b, 'error', 256, false), cause: field(b, 'cause', 32_768, false) }
        break
      case 'SendTaskHeartbeat':
        completion = { kind: 'heartbeat' }
        break
      default:
        throw new AwsError('UnknownOperationException', `unknown operation ${String(target ?? '(no X-Amz-Target)')}`)
    }
    const token = field(b, 'taskToken', 2048, true)!
    await commands.complete(token, completion, { via: 'token' }, { source: '/jetway/sfn', correlationId: request.id })
    return send(request, reply, 200, {})
  }
  const route = {
    schema: { tags: ['sfn'], summary: 'SendTaskSuccess, SendTaskFailure or SendTaskHeartbeat (AWS JSON 1.0; the task token is the credential)' },
    config: openapiDocs({
      body: SfnRequest,
      consumes: [CONTENT_TYPE],
      responses: {
        200: { description: '{} (the completion is recorded)', content: { [CONTENT_TYPE]: { schema: Type.Object({}) } } },
        400: { description: 'An AWS error: TaskDoesNotExist, TaskTimedOut, InvalidToken, InvalidOutput, ValidationException, …', content: { [CONTENT_TYPE]: { schema: SfnError } } },
        default: { description: 'An AWS error (InternalFailure)', content: { [CONTENT_TYPE]: { schema: SfnError } } }
      }
    })
  }
  app.post('/sfn', route, handler)
  app.post('/sfn/', route, handler)
}
