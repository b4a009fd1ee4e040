import t from 'tap'
import { escapeToken, unescapeToken, SubjectParts, Subjects } from '../../src/store/subjects.js'
import { decodeEvent } from '../../src/store/events.js'
import { startService, post, seqOf } from '../fixtures/service.js'

const awkward = ['a.b', '*', '>', 'a b', 'ü', '%', '', 'tab\there', 'a.*.>', '%2E', 'user@example.com', '😀', 'new\nline']

t.test('escaped tokens are one well-formed token and round-trip', async t => {
  for (const value of awkward) {
    const token = escapeToken(value)
    t.match(token, /^[\x21-\x7E]+$/, `${JSON.stringify(value)} is printable ASCII`)
    t.notMatch(token, /[.*>]/, `${JSON.stringify(value)} has no dot or wildcard`)
    t.equal(unescapeToken(token), value, `${JSON.stringify(value)} round-trips`)
  }
  t.equal(escapeToken('a.b'), 'a%2Eb')
  t.equal(escapeToken('ü'), '%C3%BC')
  t.equal(escapeToken('user@example.com'), 'user@example%2Ecom', 'readable for CLI users')
  t.not(escapeToken('%2E'), escapeToken('.'), 'the escape character is escaped too')
  t.equal(Subjects.collect('a.b', 'x y'), 'collect.user.a%2Eb.x%20y')
})

t.test('awkward user ids each land on one subject of four tokens and are found again', async t => {
  const { app, runtime } = await startService(t)
  // control characters never reach a subject: the API refuses them (test/api/hostile.test.ts)
  const hasControl = (u: string) => [...u].some(c => c.charCodeAt(0) < 0x20)
  for (const userId of awkward.filter(hasControl)) {
    const r = await post(app, '/api/collect', { event_id: 'refused', event: 'x', user_id: userId })
    t.match(r.json(), { status: 400, errors: [{ field: 'user_id' }] }, `${JSON.stringify(userId)} refused`)
  }
  for (const [i, userId] of awkward.filter(u => u !== '' && !hasControl(u)).entries()) {
    const r = await post(app, '/api/collect', { event_id: `sub-${i}`, event: 'a.b *>', user_id: userId })
    t.equal(r.statusCode, 200, JSON.stringify(userId))
    const msg = await runtime.jsm.streams.getMessage('COLLECT', { seq: seqOf(r) })
    const tokens = msg!.subject.split('.')
    t.equal(tokens.length, 4, `${msg!.subject}: four tokens`)
    t.equal(unescapeToken(tokens[2]!), userId)
    t.equal(unescapeToken(tokens[3]!), 'a.b *>')
    t.equal(decodeEvent(msg!).about, userId, 'ce-subject header round-trips')
    const found = await app.inject({ url: `/api/event/${encodeURIComponent(userId)}?min_seq=${r.headers['jetway-seq'] as string}` })
    t.same(found.json().items.map((e: { event_id: string }) => e.event_id), [`sub-${i}`])
  }
  // an operator's filter by user works on the escaped token
  const info = await runtime.jsm.streams.info('COLLECT', { subjects_filter: `collect.user.${escapeToken('a.b')}.>` })
  t.same(info.state.subjects, { 'collect.user.a%2Eb.a%2Eb%20%2A%3E': 1 })
})

t.test('subjects read back into what they were made from (SubjectParts), awkward values included', async t => {
  for (const value of awkward) {
    t.same(SubjectParts.jobStatus(Subjects.jobStatus(value, `job-${value}`)), { userId: value, eventId: `job-${value}` }, `job status of ${JSON.stringify(value)}`)
    t.same(SubjectParts.task(Subjects.task(value)), { taskId: value }, `task ${JSON.stringify(value)}`)
  }
  for (const value of awkward.filter(v => v !== '')) {
    t.same(SubjectParts.callbackReceived(Subjects.callbackReceived(value)), { requestId: value }, `callback of ${JSON.stringify(value)}`)
  }
  t.same(SubjectParts.callbackReceived(Subjects.callbackReceived(undefined)), { requestId: undefined }, 'a callback no request could be told')
  // other shapes are not taken for these
  t.equal(SubjectParts.task(Subjects.taskCallback('t1')), undefined, 'a task\'s callback deliveries are not the task')
  t.equal(SubjectParts.jobStatus(Subjects.jobRequested('j1')), undefined)
  t.equal(SubjectParts.jobStatus('jobs.status.only-three'), undefined)
  t.equal(SubjectParts.callbackReceived(Subjects.relayRequest('r1')), undefined)
})
