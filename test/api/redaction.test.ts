import t from 'tap'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import { startService, post } from '../fixtures/service.js'
import { createLogger, redactUrl } from '../../src/lib/log.js'

// Secrets never reach the logs or the answers: ?access_token=, ?key=, Authorization and
// intake keys are masked in request logs and in a problem body's `instance`.

const SECRET = 'a-test-secret-of-enough-length'
const INTAKE_KEY = 'intake-key-S3CRET-1'

function capture (): { stream: Writable, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(l => l !== ''))
      done()
    }
  })
  return { stream, lines }
}

t.test('request logs and problem bodies never carry a token or a key', async t => {
  const log = capture()
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, INTAKE_KEY, LOG_LEVEL: 'trace' }, logTo: log.stream })
  const good = createSigner({ key: SECRET, expiresIn: 600_000 })({ sub: 'alice' })
  const forged = createSigner({ key: 'not-the-secret-at-all', expiresIn: 600_000 })({ sub: 'alice' })
  const secrets = [good, forged, INTAKE_KEY, 'guessed-KEY-9', SECRET]

  const answers = [
    // EventSource clients send their token in the URL
    await app.inject({ url: `/noti/sub/job-1?access_token=${forged}` }),
    await app.inject({ url: `/noti/users/alice/sub?lastEventId=1&access_token=${forged}` }),
    await app.inject({ url: `/noti/sub/job-1?acc%65ss_token=${forged}` }),
    // webhooks send the intake key in the URL; a 400 echoes the URL as `instance`
    await post(app, `/noti/events?key=${INTAKE_KEY}`, [{ id: 'j1', eventType: 'Nothing.Said' }]),
    await post(app, `/noti/complete/job-1?x=1&key=${INTAKE_KEY}`, { eventStatus: 'maybe' }),
    await post(app, '/noti/complete/job-1?key=guessed-KEY-9', { eventStatus: 'Y' }),
    await post(app, '/noti/complete/job-1', { eventStatus: 'Y' }, { 'x-intake-key': 'guessed-KEY-9' }),
    await app.inject({ url: '/api/event/alice', headers: { authorization: `Bearer ${good}` } }),
    await app.inject({ url: '/api/event/bob', headers: { authorization: `Bearer ${good}`, cookie: `session=${INTAKE_KEY}` } }),
    await app.inject({ url: `/nowhere?key=${INTAKE_KEY}` })
  ]
  t.same(answers.map(r => r.statusCode), [401, 401, 401, 400, 400, 401, 401, 200, 403, 404])
  for (const r of answers.filter(r => r.statusCode >= 400)) {
    const problem = r.json()
    t.notOk(secrets.some(s => r.body.includes(s)), `no secret in the ${r.statusCode} body of ${problem.instance as string}`)
  }
  t.equal(answers[0]!.json().instance, '/noti/sub/job-1?access_token=REDACTED')
  t.equal(answers[4]!.json().instance, '/noti/complete/job-1?x=1&key=REDACTED')

  const requestLines = log.lines.filter(l => l.includes('"req":'))
  t.ok(requestLines.length >= answers.length, 'every request was logged')
  t.ok(requestLines.some(l => l.includes('access_token=REDACTED')), 'the URL is logged, masked')
  t.ok(requestLines.some(l => l.includes('key=REDACTED')))
  for (const secret of secrets) {
    t.notOk(log.lines.some(l => l.includes(secret)), `the log never shows ${secret.slice(0, 12)}…`)
  }
})

t.test('the logger censors credentials wherever a line carries headers', async t => {
  const log = capture()
  const logger = createLogger({ level: 'info', destination: log.stream })
  logger.info({ headers: { authorization: 'Bearer abc.def.ghi', 'x-intake-key': 'k-1', cookie: 'c=1', accept: 'text/event-stream' } }, 'headers')
  logger.info({ req: { method: 'GET', url: '/x?token=t-1&key=k-2&keep=yes', headers: { authorization: 'Bearer t-2' } } }, 'req')
  logger.info({ res: { headers: { 'set-cookie': 's=1' } } }, 'res')
  const text = log.lines.join('\n')
  for (const secret of ['abc.def.ghi', 'k-1', 'c=1', 't-1', 'k-2', 't-2', 's=1']) t.notOk(text.includes(secret), `${secret} censored`)
  t.ok(text.includes('text/event-stream'), 'other headers stay')
  t.ok(text.includes('keep=yes'), 'other query values stay')
  t.equal(redactUrl('/a?b=1'), '/a?b=1')
  t.equal(redactUrl('/a?KEY=1&Access_Token=2&key'), '/a?KEY=REDACTED&Access_Token=REDACTED&key=REDACTED')
})
