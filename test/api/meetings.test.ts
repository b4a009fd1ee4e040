import t from 'tap'
import { createSigner } from 'fast-jwt'
import { startService, post } from '../fixtures/service.js'
import { smtpServer } from '../fixtures/smtp.js'
import { until } from '../fixtures/wait.js'

const organizer = { userId: 'org-1', email: 'org@example.com', name: 'Olga Organizer' }
// whole seconds: iCalendar times have no fraction
const inHours = (h: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + h * 3600_000).toISOString()
const meeting = (extra: object = {}) => ({
  title: 'Quarterly planning',
  startsAt: inHours(24),
  durationMinutes: 60,
  location: 'Room 7',
  description: 'Agenda to follow',
  participants: [{ email: 'ann@example.com', name: 'Ann' }, { email: 'bob@example.com' }, { email: 'ANN@example.com' }],
  organizer,
  ...extra
})
const byRecipient = <T extends { to: string }>(mails: T[]) => [...mails].sort((a, b) => a.to.localeCompare(b.to))

t.test('invitations with a calendar invite to every participant; updates raise SEQUENCE; cancel is METHOD:CANCEL', async t => {
  const smtp = await smtpServer(t)
  const { app } = await startService(t, { env: { SMTP_URL: smtp.url, MAIL_FROM: 'Jetway <noreply@example.com>' } })
  const created = await post(app, '/api/meetings', meeting())
  t.equal(created.statusCode, 201)
  const m = created.json()
  t.match(m, { version: 1, title: 'Quarterly planning', location: 'Room 7', status: 'scheduled', sequence: 0, organizer })
  t.same(m.participants, [{ email: 'ann@example.com', name: 'Ann' }, { email: 'bob@example.com' }], 'duplicates folded')
  t.equal(created.headers.etag, '"1"')
  t.equal(created.headers.location, `/api/meetings/${m.id as string}`)
  t.equal(Date.parse(m.endsAt) - Date.parse(m.startsAt), 3600_000, 'durationMinutes gives endsAt')

  const invites = byRecipient(await smtp.until(2))
  t.same(invites.map(i => i.to), ['ann@example.com', 'bob@example.com'])
  for (const invite of invites) {
    t.equal(invite.subject, 'Invitation: Quarterly planning')
    t.equal(invite.method, 'REQUEST')
    t.equal(invite.event.uid, `${m.id as string}@jetway`)
    t.equal(invite.event.summary, 'Quarterly planning')
    t.equal(invite.event.location, 'Room 7')
    t.equal(new Date(invite.event.start).toISOString(), m.startsAt)
    t.equal(Number(invite.event.sequence), 0)
    t.match(JSON.stringify(invite.event.organizer), /mailto:org@example.com/i)
    t.equal((Array.isArray(invite.event.attendee) ? invite.event.attendee : [invite.event.attendee]).length, 2)
    t.match(invite.messageId, /^<[0-9a-f]{32}@jetway>$/)
    t.match(invite.text, /invites you to "Quarterly planning"/)
  }

  const moved = await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { startsAt: inHours(48), location: 'Room 9' }, headers: { 'if-match': '"1"' } })
  t.equal(moved.statusCode, 200)
  t.match(moved.json(), { version: 2, sequence: 1, location: 'Room 9' })
  t.equal(moved.headers.etag, '"2"')
  const updates = byRecipient((await smtp.until(4)).slice(2))
  t.same(updates.map(u => [u.to, u.subject, u.method, u.event.uid, Number(u.event.sequence), u.event.location]), [
    ['ann@example.com', 'Updated: Quarterly planning', 'REQUEST', `${m.id as string}@jetway`, 1, 'Room 9'],
    ['bob@example.com', 'Updated: Quarterly planning', 'REQUEST', `${m.id as string}@jetway`, 1, 'Room 9']
  ])

  const added = await post(app, `/api/meetings/${m.id as string}/participants`, { participants: [{ email: 'cy@example.com', name: 'Cy' }, { email: 'bob@example.com' }] })
  t.equal(added.statusCode, 200)
  t.equal(added.json().participants.length, 3)
  const [invite3] = (await smtp.until(5)).slice(4)
  t.match(invite3, { to: 'cy@example.com', method: 'REQUEST', subject: 'Invitation: Quarterly planning' })

  const removed = await app.inject({ method: 'DELETE', url: `/api/meetings/${m.id as string}/participants/bob@example.com` })
  t.equal(removed.statusCode, 200)
  const [gone] = (await smtp.until(6)).slice(5)
  t.match(gone, { to: 'bob@example.com', method: 'CANCEL', subject: 'Cancelled: Quarterly planning' })

  const cancelled = await app.inject({ method: 'POST', url: `/api/meetings/${m.id as string}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.match(cancelled.json(), { status: 'cancelled', sequence: 2 })
  const cancels = byRecipient((await smtp.until(8)).slice(6))
  t.same(cancels.map(c => [c.to, c.method, c.event.status, Number(c.event.sequence)]), [
    ['ann@example.com', 'CANCEL', 'CANCELLED', 2],
    ['cy@example.com', 'CANCEL', 'CANCELLED', 2]
  ])
  const again = await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title: 'x' } })
  t.equal(again.statusCode, 409, 'a cancelled meeting does not change')

  const items = await until('every notification sent', async () => {
    const all = (await app.inject({ url: `/api/meetings/${m.id as string}/notifications` })).json().items
    return all.length === 8 && all.every((r: { status: string }) => r.status === 'sent') ? all : undefined
  })
  t.equal(items.length, 8)
  t.same(items.map((r: { kind: string }) => r.kind).sort(), ['cancel', 'cancel', 'cancel', 'invite', 'invite', 'invite', 'update', 'update'])
  t.ok(items.every((r: { status: string, attempts: number, sentAt: string | null }) => r.status === 'sent' && r.attempts === 1 && r.sentAt !== null))

  const got = await app.inject({ url: `/api/meetings/${m.id as string}?min_seq=5` })
  t.equal(got.headers.etag, '"5"')
  t.match(got.json(), { status: 'cancelled', version: 5 })
})

t.test('If-Match: 412 on a stale version, and one winner for two concurrent PATCHes', async t => {
  const { app, runtime } = await startService(t)
  const m = (await post(app, '/api/meetings', meeting())).json()
  const stale = await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title: 'B' }, headers: { 'if-match': '"0"' } })
  t.equal(stale.statusCode, 412)
  t.match(stale.json(), { status: 412, code: 'JETWAY_PRECONDITION_FAILED' })

  const results = await Promise.all(['first', 'second', 'third'].map(async title =>
    await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title }, headers: { 'if-match': '"1"' } })))
  t.same(results.map(r => r.statusCode).sort(), [200, 412, 412], 'exactly one writer wins')
  const info = await runtime.jsm.streams.info('MEETINGS')
  t.equal(info.state.messages, 2, 'one scheduled, one update')
  t.equal((await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title: 'x' }, headers: { 'if-match': 'garbage' } })).statusCode, 400)
})

t.test('bad meetings get a problem naming the field', async t => {
  const { app } = await startService(t)
  const cases: [object, string][] = [
    [{ participants: [] }, 'participants'],
    [{ participants: [{ email: 'not-an-email' }] }, 'participants.0.email'],
    [{ startsAt: 'tomorrow' }, 'startsAt'],
    [{ endsAt: inHours(1), startsAt: inHours(2), durationMinutes: undefined }, 'endsAt'],
    [{ durationMinutes: undefined }, 'endsAt'],
    [{ organizer: undefined }, 'organizer'],
    [{ title: '' }, 'title']
  ]
  for (const [change, field] of cases) {
    const r = await post(app, '/api/meetings', JSON.parse(JSON.stringify(meeting(change))))
    t.equal(r.statusCode, 400, field)
    t.ok(r.json().errors.some((e: { field: string }) => e.field === field), `names ${field}: ${JSON.stringify(r.json().errors)}`)
  }
  t.equal((await app.inject({ url: '/api/meetings/nope' })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/meetings/bad.id' })).statusCode, 400)
})

t.test('jwt: only the organizer changes a meeting; a participant sees it; a stranger gets 404', async t => {
  const SECRET = 'meetings-secret-0123456789'
  const sign = createSigner({ key: SECRET, expiresIn: 3_600_000 })
  const as = (claims: object) => ({ authorization: `Bearer ${sign(claims)}` })
  const org = as({ sub: 'org-1', email: 'org@example.com', name: 'Olga' })
  const ann = as({ sub: 'ann-1', email: 'ann@example.com' })
  const eve = as({ sub: 'eve-1', email: 'eve@example.com' })
  const { app } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const { organizer: _o, ...body } = meeting()
  const created = await post(app, '/api/meetings', body, org)
  t.equal(created.statusCode, 201)
  const m = created.json()
  t.same(m.organizer, { userId: 'org-1', email: 'org@example.com', name: 'Olga' }, 'the organizer is the caller')
  const seq = created.headers['jetway-seq'] as string

  t.equal((await app.inject({ url: `/api/meetings/${m.id as string}?min_seq=${seq}`, headers: ann })).statusCode, 200, 'a participant sees it')
  t.equal((await app.inject({ url: `/api/meetings/${m.id as string}`, headers: eve })).statusCode, 404, 'a stranger does not')
  const annList = await app.inject({ url: '/api/meetings', headers: ann })
  t.same(annList.json().items.map((i: { id: string }) => i.id), [m.id])
  t.same((await app.inject({ url: '/api/meetings', headers: eve })).json().items, [])
  t.same((await app.inject({ url: '/api/meetings', headers: org })).json().items.map((i: { id: string }) => i.id), [m.id])
  const window = await app.inject({ url: `/api/meetings?from=${encodeURIComponent(inHours(30))}`, headers: org })
  t.same(window.json().items, [], 'from/to filter')

  t.equal((await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title: 'mine now' }, headers: ann })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: `/api/meetings/${m.id as string}/cancel`, headers: eve })).statusCode, 404)
  t.equal((await app.inject({ method: 'PATCH', url: `/api/meetings/${m.id as string}`, payload: { title: 'renamed' }, headers: org })).statusCode, 200)
  t.equal((await app.inject({ url: '/api/outbox', headers: ann })).statusCode, 403)
  t.equal((await post(app, '/api/meetings', body, as({ sub: 'no-email' }))).statusCode, 400)
})

t.test('without SMTP_URL the messages go to the local outbox', async t => {
  const { app } = await startService(t)
  const m = (await post(app, '/api/meetings', meeting())).json()
  const items: { to: string, subject: string, ics: string }[] = await until('two messages in the outbox', async () => {
    const all = (await app.inject({ url: '/api/outbox' })).json().items
    return all.length >= 2 ? all : undefined
  })
  t.same(items.map(i => i.to).sort(), ['ann@example.com', 'bob@example.com'])
  t.match(items[0], { subject: 'Invitation: Quarterly planning', from: 'Jetway <jetway@localhost>', ics: new RegExp(`UID:${m.id as string}@jetway`) })
})

t.test('a create retried with the same Idempotency-Key answers the stored meeting, not the retry body, and appends nothing', async t => {
  const { app, runtime } = await startService(t)
  const headers = { 'idempotency-key': 'create-once' }
  const first = await post(app, '/api/meetings', meeting({ title: 'First body' }), headers)
  t.equal(first.statusCode, 201)
  const retry = await post(app, '/api/meetings', meeting({ title: 'Second body', location: 'Elsewhere' }), headers)
  t.equal(retry.statusCode, 201)
  t.equal(retry.json().id, first.json().id, 'same meeting')
  t.equal(retry.json().title, 'First body', 'the stored meeting answers')
  t.equal(retry.json().location, 'Room 7')
  t.equal(retry.headers.etag, first.headers.etag)
  const info = await runtime.jsm.streams.info('MEETINGS')
  t.equal(info.state.messages, 1, 'one meeting.scheduled in MEETINGS')
})
