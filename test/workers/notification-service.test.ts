import t from 'tap'
import { startService, post } from '../fixtures/service.js'
import { smtpServer } from '../fixtures/smtp.js'

const organizer = { userId: 'org', email: 'org@example.com' }
const create = (participants: { email: string }[]) => ({
  title: 'Review', startsAt: new Date(Date.now() + 86_400_000).toISOString(), durationMinutes: 30, location: 'Online', participants, organizer
})

async function records (app: Awaited<ReturnType<typeof startService>>['app'], id: string, done: (items: { status: string }[]) => boolean) {
  for (let i = 0; ; i++) {
    const r = await app.inject({ url: `/api/meetings/${id}/notifications` })
    const items = r.statusCode === 200 ? r.json().items : []
    if (done(items) || i > 400) return items
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

t.test('a transient SMTP failure is retried and recorded; a permanent one fails at once', async t => {
  // flaky@ is refused with 451 twice, then accepted; gone@ gets 550 (no such user)
  const smtp = await smtpServer(t, (address, attempt) => {
    if (address === 'flaky@example.com' && attempt <= 2) return 451
    if (address === 'gone@example.com') return 550
    return undefined
  })
  const { app } = await startService(t, { env: { SMTP_URL: smtp.url, WORKER_BACKOFF: '50ms', WORKER_MAX_DELIVER: '5' } })
  const m = (await post(app, '/api/meetings', create([{ email: 'flaky@example.com' }, { email: 'gone@example.com' }, { email: 'fine@example.com' }]))).json()
  const items = await records(app, m.id, items => items.length === 3 && items.every(i => i.status !== 'pending'))
  const by = Object.fromEntries(items.map((i: { recipient: string }) => [i.recipient, i]))
  t.match(by['flaky@example.com'], { status: 'sent', attempts: 3, kind: 'invite' }, 'sent on the third attempt')
  t.match(by['gone@example.com'], { status: 'failed', attempts: 1, lastError: /550/ }, 'permanent: failed at once')
  t.match(by['fine@example.com'], { status: 'sent', attempts: 1, lastError: null })
  t.equal(smtp.attempts.get('flaky@example.com'), 3)
  t.equal(smtp.attempts.get('gone@example.com'), 1, 'no retry of a 5xx')
  t.same(smtp.mails.map(x => x.to).sort(), ['fine@example.com', 'flaky@example.com'])
})

t.test('after the last attempt a transient failure is failed and dead-lettered', async t => {
  const smtp = await smtpServer(t, address => address === 'down@example.com' ? 421 : undefined)
  const { app, runtime } = await startService(t, { env: { SMTP_URL: smtp.url, WORKER_BACKOFF: '20ms', WORKER_MAX_DELIVER: '3' } })
  const m = (await post(app, '/api/meetings', create([{ email: 'down@example.com' }]))).json()
  const [record] = await records(app, m.id, items => items[0]?.status === 'failed')
  t.match(record, { status: 'failed', attempts: 3, lastError: /421/ })
  const { listDeadLetters } = await import('../../src/workers/dead-letters.js')
  let letters = await listDeadLetters(runtime.jsm)
  while (letters.length === 0) {
    await new Promise(resolve => setTimeout(resolve, 25))
    letters = await listDeadLetters(runtime.jsm)
  }
  t.match(letters, [{ stream: 'NOTIFY', consumer: 'notification-service-group', deliveries: 3 }])
})

t.test('a dead-lettered email replayed from the DLQ is sent again (once the SMTP peer is back)', async t => {
  let peerUp = false
  const smtp = await smtpServer(t, address => address === 'later@example.com' && !peerUp ? 421 : undefined)
  const { app, runtime } = await startService(t, { env: { SMTP_URL: smtp.url, WORKER_BACKOFF: '20ms', WORKER_MAX_DELIVER: '2' } })
  const m = (await post(app, '/api/meetings', create([{ email: 'later@example.com' }]))).json()
  await records(app, m.id, items => items[0]?.status === 'failed')
  const { listDeadLetters, replayDeadLetter } = await import('../../src/workers/dead-letters.js')
  let letters = await listDeadLetters(runtime.jsm)
  while (letters.length === 0) {
    await new Promise(resolve => setTimeout(resolve, 25))
    letters = await listDeadLetters(runtime.jsm)
  }
  t.equal(smtp.mails.length, 0, 'nothing arrived yet')
  peerUp = true
  await replayDeadLetter(runtime.js, runtime.jsm, letters[0]!.dlqSeq, runtime.clock)
  const [mail] = await smtp.until(1)
  t.equal(mail!.to, 'later@example.com', 'the replay sent it')
  const [record] = await records(app, m.id, items => items[0]?.status === 'sent')
  t.match(record, { status: 'sent' }, 'and the delivery record says so')
})
