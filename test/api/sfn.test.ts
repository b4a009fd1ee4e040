import t from 'tap'
import {
  InvalidOutput, InvalidToken, SFNClient, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand,
  TaskDoesNotExist, TaskTimedOut
} from '@aws-sdk/client-sfn'
import { startService, post, countOn } from '../fixtures/service.js'
import { taskSecret, taskToken } from '../../src/lib/task-tokens.js'

// The Step Functions wire API, driven by the real AWS SDK: a worker written for
// .waitForTaskToken completes Jetway's tasks by pointing its endpoint at <base>/sfn.

const task = (extra: object = {}) => ({ type: 'review', input: { doc: 'a.pdf' }, owner: 'ops', ...extra })

t.test('@aws-sdk/client-sfn: success, failure, heartbeat, and each error class', async t => {
  const svc = await startService(t, { listen: 0 })
  const sfn = new SFNClient({ endpoint: `${svc.url}/sfn`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'ignored' }, maxAttempts: 1 })
  t.teardown(() => { sfn.destroy() })
  const a = (await post(svc.app, '/api/tasks', task({ heartbeatSeconds: 60 }))).json()
  const b = (await post(svc.app, '/api/tasks', task())).json()

  const beat = await sfn.send(new SendTaskHeartbeatCommand({ taskToken: a.taskToken }))
  t.equal(beat.$metadata.httpStatusCode, 200)
  t.ok(beat.$metadata.requestId, 'x-amzn-RequestId')
  const ok = await sfn.send(new SendTaskSuccessCommand({ taskToken: a.taskToken, output: JSON.stringify({ approved: true }) }))
  t.equal(ok.$metadata.httpStatusCode, 200)
  const failed = await sfn.send(new SendTaskFailureCommand({ taskToken: b.taskToken, error: 'Broken', cause: 'the document is unreadable' }))
  t.equal(failed.$metadata.httpStatusCode, 200)

  const readA = (await svc.app.inject({ url: `/api/tasks/${a.taskId as string}?min_seq=${(await svc.runtime.jsm.streams.info('TASKS')).state.last_seq}` })).json()
  t.match(readA, { status: 'SUCCEEDED', output: { approved: true } })
  t.ok(readA.lastHeartbeatAt, 'the heartbeat was recorded')
  t.match((await svc.app.inject({ url: `/api/tasks/${b.taskId as string}` })).json(), { status: 'FAILED', error: 'Broken', cause: 'the document is unreadable' })

  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: a.taskToken, output: '{}' })), TaskTimedOut, 'a repeated success: TaskTimedOut')
  await t.rejects(sfn.send(new SendTaskFailureCommand({ taskToken: a.taskToken })), TaskTimedOut, 'a failure after success: TaskTimedOut')
  await t.rejects(sfn.send(new SendTaskHeartbeatCommand({ taskToken: b.taskToken })), TaskTimedOut, 'a heartbeat on a closed task: TaskTimedOut')
  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: 'not-a-token', output: '{}' })), InvalidToken, 'malformed: InvalidToken')
  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: `${(a.taskToken as string).slice(0, -3)}xyz`, output: '{}' })), InvalidToken, 'forged: InvalidToken')
  const unknown = taskToken(taskSecret(svc.config), '0123456789abcdef0123456789abcdef')
  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: unknown, output: '{}' })), TaskDoesNotExist, 'well-formed, no task: TaskDoesNotExist')
  const c = (await post(svc.app, '/api/tasks', task())).json()
  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: c.taskToken, output: '{not json' })), InvalidOutput, 'output not JSON: InvalidOutput')
  await t.rejects(sfn.send(new SendTaskSuccessCommand({ taskToken: c.taskToken, output: JSON.stringify({ x: 'y'.repeat(256 * 1024) }) })), InvalidOutput, 'over 256 KiB: InvalidOutput')
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${c.taskId as string}`), 1, 'an invalid output changes nothing')
})

t.test('the wire format: content type, empty success body, __type errors, UnknownOperationException, /sfn/', async t => {
  const svc = await startService(t)
  const { taskToken: token } = (await post(svc.app, '/api/tasks', task())).json()
  const call = async (target: string | undefined, body: string, url = '/sfn') => await svc.app.inject({
    method: 'POST',
    url,
    payload: body,
    headers: { 'content-type': 'application/x-amz-json-1.0', ...(target === undefined ? {} : { 'x-amz-target': target }), authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20300101/us-east-1/states/aws4_request, SignedHeaders=host, Signature=00' }
  })
  const beat = await call('AWSStepFunctions.SendTaskHeartbeat', JSON.stringify({ taskToken: token }), '/sfn/')
  t.equal(beat.statusCode, 200)
  t.equal(beat.headers['content-type'], 'application/x-amz-json-1.0')
  t.ok(beat.headers['x-amzn-requestid'])
  t.same(beat.json(), {})
  const unknown = await call('AWSStepFunctions.StartExecution', '{}')
  t.equal(unknown.statusCode, 400)
  t.same(unknown.json().__type, 'com.amazonaws.sfn#UnknownOperationException')
  t.equal((await call(undefined, '{}')).json().__type, 'com.amazonaws.sfn#UnknownOperationException', 'no target')
  const bad = await call('AWSStepFunctions.SendTaskSuccess', JSON.stringify({ taskToken: 'x', output: '{}' }))
  t.equal(bad.statusCode, 400)
  t.equal(bad.headers['content-type'], 'application/x-amz-json-1.0')
  t.match(bad.json(), { __type: 'com.amazonaws.sfn#InvalidToken', message: /InvalidToken/ })
  t.equal((await call('AWSStepFunctions.SendTaskSuccess', '{oops')).json().__type, 'com.amazonaws.sfn#SerializationException')
  t.equal((await call('AWSStepFunctions.SendTaskFailure', JSON.stringify({ taskToken: token, error: 'e'.repeat(257) }))).json().__type, 'com.amazonaws.sfn#ValidationException')
})
