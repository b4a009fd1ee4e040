import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startService, post, countOn } from '../fixtures/service.js'
import { eventIdFor } from '../../src/api/jobs.js'
import { listDeadLetters } from '../../src/workers/dead-letters.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { Subjects } from '../../src/store/subjects.js'

const run = promisify(execFile)

t.test('a completion for an unknown job is retried, dead-lettered, listed, and replayed once the job exists', async t => {
  const { app, runtime, natsUrl, dataDir } = await startService(t, { env: { WORKER_BACKOFF: '50ms', WORKER_MAX_DELIVER: '3' } })
  const eventId = eventIdFor('ghost', 'k')
  t.equal((await post(app, `/noti/complete/${eventId}`, { eventStatus: 'Y', eventDesc: 'finished' })).statusCode, 404, 'the intake refuses it')
  // stored by another producer than the intake (a tool, an import), as a completion before its request
  await appendEvent(runtime.js, {
    def: Events.jobCompleted,
    data: { eventId, eventStatus: 'Y', eventDesc: 'finished', origin: 'intake' },
    subject: Subjects.jobCompleted(eventId),
    source: '/test',
    about: eventId,
    time: new Date()
  })

  let letters = await listDeadLetters(runtime.jsm)
  while (letters.length === 0) {
    await new Promise(resolve => setTimeout(resolve, 50))
    letters = await listDeadLetters(runtime.jsm)
  }
  t.match(letters, [{
    stream: 'JOBS',
    consumer: 'completion-worker',
    subject: `jobs.completed.${eventId}`,
    deliveries: 3,
    error: `no job.requested for eventId ${eventId}`,
    headers: { 'ce-type': 'job.completed' }
  }])
  t.equal(letters[0]!.replayedAs, undefined)
  // the worker terminates the message right after the dead letter is stored
  let consumer = await runtime.jsm.consumers.info('JOBS', 'completion-worker')
  for (let i = 0; i < 100 && consumer.num_ack_pending > 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    consumer = await runtime.jsm.consumers.info('JOBS', 'completion-worker')
  }
  t.equal(consumer.num_ack_pending + consumer.num_pending, 0, 'terminated on JOBS, kept in DLQ')

  const env = { ...process.env, NATS_URL: natsUrl, DATA_DIR: dataDir }
  const cli = ['--import', 'tsx', 'scripts/dlq.ts']
  const listed = await run(process.execPath, [...cli, 'list'], { env })
  t.match(listed.stdout, new RegExp(`^${letters[0]!.dlqSeq}\\t.*JOBS/completion-worker\\tseq \\d+\\tjobs\\.completed\\.${eventId}\\t3 deliveries\\tnot replayed`, 'm'))

  await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ghost' }, { 'idempotency-key': 'k' })
  const replayed = await run(process.execPath, [...cli, 'replay', String(letters[0]!.dlqSeq)], { env })
  t.match(replayed.stdout, `replayed DLQ ${letters[0]!.dlqSeq} onto jobs.completed.${eventId}`)
  let job
  do {
    job = (await app.inject({ url: `/noti/jobs/${eventId}` })).json()
  } while (job.status === 'PENDING' && await new Promise(resolve => setTimeout(resolve, 50, true)))
  t.match(job, { status: 'Y', eventDesc: 'finished' }, 'the replayed completion resolved the job')
  t.equal(await countOn(runtime, 'JOBS', 'jobs.status.>'), 1)
  t.match(await listDeadLetters(runtime.jsm), [{ replayedAs: Number }])

  const bad = await run(process.execPath, [...cli, 'replay', '999'], { env }).catch((err: { code: number, stderr: string }) => err)
  t.match(bad, { code: 1, stderr: /no dead letter at DLQ sequence 999/ })
})
