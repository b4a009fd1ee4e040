import t from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post } from '../fixtures/service.js'
import { smtpServer, type Mail } from '../fixtures/smtp.js'

// REMINDER_LEAD=1s: a meeting starting in ~2.5 s is due for its reminder ~1.5 s from now.
const LEAD = { REMINDER_LEAD: '1s', WORKER_BACKOFF: '50ms' }
const organizer = { userId: 'org', email: 'org@example.com' }
const soon = (seconds: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + seconds * 1000).toISOString()
const create = (startsAt: string, participants = [{ email: 'p1@example.com' }, { email: 'p2@example.com' }]) =>
  ({ title: 'Standup', startsAt, durationMinutes: 15, location: 'Here', participants, organizer })
const reminders = (mails: Mail[]) => mails.filter(m => m.subject.startsWith('Reminder:'))

async function settle (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

t.test('one reminder per participant at the lead; none for a cancelled meeting; a meeting inside the window at once', async t => {
  const smtp = await smtpServer(t)
  const { app } = await startService(t, { env: { ...LEAD, SMTP_URL: smtp.url } })
  const kept = (await post(app, '/api/meetings', create(soon(3)))).json()
  const dropped = (await post(app, '/api/meetings', create(soon(3), [{ email: 'p3@example.com' }]))).json()
  await app.inject({ method: 'POST', url: `/api/meetings/${dropped.id as string}/cancel` })
  const late = (await post(app, '/api/meetings', create(soon(0.5), [{ email: 'p4@example.com' }]))).json()

  while (reminders(smtp.mails).length < 3) await settle(50)
  await settle(1500) // anything more would arrive now
  const got = reminders(smtp.mails)
  t.same(got.map(m => m.to).sort(), ['p1@example.com', 'p2@example.com', 'p4@example.com'], 'one each, none for the cancelled meeting')
  t.ok(got.filter(m => m.to !== 'p4@example.com').every(m => m.event.uid === `${kept.id as string}@jetway`))
  t.equal(got.find(m => m.to === 'p4@example.com')!.event.uid, `${late.id as string}@jetway`, 'inside the lead window: at once')
  t.notOk(smtp.mails.some(m => m.to === 'p3@example.com' && m.subject.startsWith('Reminder')))
})

t.test('after a reschedule the reminder comes at the new time only', async t => {
  const smtp = await smtpServer(t)
  const { app } = await startService(t, { env: { ...LEAD, SMTP_URL: smtp.url } })
  const m = (await post(app, '/api/meetings', create(soon(3), [{ email: 'r@example.com' }]))).json()
  const newStart = soon(5)
  const moved = await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { startsAt: newStart } })
  t.equal(moved.statusCode, 200)
  const t0 = Date.now()
  while (reminders(smtp.mails).length < 1) await settle(50)
  await settle(1000)
  const got = reminders(smtp.mails)
  t.equal(got.length, 1, 'one reminder')
  t.equal(new Date(got[0]!.event.start).toISOString(), newStart, 'for the new time')
  t.ok(Date.now() - t0 >= 2000, 'not at the old due time')
})

t.test('once with two instances running', async t => {
  const smtp = await smtpServer(t)
  const natsUrl = await natsServer(t)
  const env = { ...LEAD, SMTP_URL: smtp.url }
  const a = await startService(t, { natsUrl, env })
  await startService(t, { natsUrl, env })
  await post(a.app, '/api/meetings', create(soon(3), [{ email: 'two@example.com' }]))
  while (reminders(smtp.mails).length < 1) await settle(50)
  await settle(1500)
  t.equal(reminders(smtp.mails).length, 1, 'one reminder')
  t.equal(smtp.mails.filter(m => m.subject.startsWith('Invitation')).length, 1, 'one invitation')
})

t.test('once across a restart: due while no instance runs, sent when one is back, never again', async t => {
  const smtp = await smtpServer(t)
  const natsUrl = await natsServer(t)
  const env = { ...LEAD, SMTP_URL: smtp.url }
  const first = await startService(t, { natsUrl, env })
  await post(first.app, '/api/meetings', create(soon(3), [{ email: 'restart@example.com' }]))
  await smtp.until(1)
  await first.close()
  await settle(2500) // past the due time, nobody running
  t.equal(reminders(smtp.mails).length, 0)
  const second = await startService(t, { natsUrl, env })
  while (reminders(smtp.mails).length < 1) await settle(50)
  await second.close()
  await startService(t, { natsUrl, env })
  await settle(1500)
  t.equal(reminders(smtp.mails).length, 1, 'one reminder after two restarts')
  t.equal(smtp.mails.length, 2, 'and the invitation was not sent again')
})
