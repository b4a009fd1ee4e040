import t, { type Test } from 'tap'
import { startService, post, countOn } from '../fixtures/service.js'
import { smtpServer, type Mail } from '../fixtures/smtp.js'
import { freePort } from '../fixtures/process.js'
import { until } from '../fixtures/wait.js'

// Approval by email, safe from link scanners: the email's link is a page; GET and HEAD of it
// change nothing; only the form's POST (with the page's hidden field) decides.

const linkOf = (mail: Mail): string => {
  const m = /Approve or reject: (\S+)/.exec(mail.text)
  if (m === null) throw new Error(`no link in ${mail.text}`)
  return m[1]!
}
const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? ''
const form = (fields: Record<string, string>) => ({ method: 'POST', redirect: 'manual' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })

async function start (t: Test) {
  const smtp = await smtpServer(t)
  const port = await freePort()
  const svc = await startService(t, { listen: port, env: { SMTP_URL: smtp.url, PUBLIC_URL: `http://127.0.0.1:${port}`, MAIL_FROM: 'Jetway <noreply@example.com>' } })
  return { smtp, svc }
}

t.test('each approver gets an email with their own link; GET and HEAD change nothing; the form approves once', async t => {
  const { smtp, svc } = await start(t)
  const created = await post(svc.app, '/api/tasks', {
    type: 'deploy', title: 'Deploy v2 to prod', input: { version: '2.0.0', services: ['api', 'web'] }, approvers: ['Ann@example.com', 'bob@example.com', 'ann@example.com'], owner: 'ops@example.com', timeoutSeconds: 3600
  })
  t.equal(created.statusCode, 201)
  const task = created.json()
  t.same(task.approvers, ['ann@example.com', 'bob@example.com'], 'lower-cased, each once')
  const mails = [...await smtp.until(2)].sort((x, y) => x.to.localeCompare(y.to))
  t.same(mails.map(m => m.to), ['ann@example.com', 'bob@example.com'])
  for (const m of mails) {
    t.equal(m.subject, 'Approval needed: Deploy v2 to prod')
    t.match(m.text, /ops@example\.com asks for your decision on "Deploy v2 to prod"/)
    t.match(m.text, /version: "2\.0\.0"/, 'an input summary')
    t.match(m.text, new RegExp(`Decide by: ${task.deadline as string}`))
    t.equal(m.ics, '', 'no calendar invite')
  }
  const [annLink, bobLink] = mails.map(linkOf) as [string, string]
  t.not(annLink, bobLink, 'a link per approver')
  t.match(annLink, new RegExp(`^${svc.url}/tasks/approval/a1\\.${task.taskId as string}\\.0\\.`))

  // what a mail scanner does: GET and HEAD, more than once
  for (let i = 0; i < 3; i++) {
    const head = await fetch(annLink, { method: 'HEAD' })
    t.equal(head.status, 200)
    const page = await fetch(annLink)
    t.equal(page.status, 200)
    t.equal(page.headers.get('cache-control'), 'no-store')
    t.equal(page.headers.get('referrer-policy'), 'no-referrer')
    const html = await page.text()
    t.match(html, /<form method="post">/)
    t.match(html, /<button type="submit" name="decision" value="approve">Approve<\/button>/)
    t.match(html, /<button type="submit" name="decision" value="reject">Reject<\/button>/)
    t.match(html, /<textarea id="comment" name="comment"/)
    t.match(html, /Deploy v2 to prod/)
  }
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${task.taskId as string}`), 1, 'GET and HEAD appended nothing')
  t.equal((await svc.app.inject({ url: `/api/tasks/${task.taskId as string}` })).json().status, 'WAITING')

  // a POST without the page's hidden field (a crawler, another site) records nothing
  const bare = await fetch(annLink, form({ decision: 'approve' }))
  t.equal(bare.status, 403)
  t.match(await bare.text(), /Nothing was recorded/)
  const elsewhere = await fetch(annLink, { ...form({ decision: 'approve', csrf: csrfOf(await (await fetch(annLink)).text()) }), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' } })
  t.equal(elsewhere.status, 403, 'a form posted from another origin')
  const otherLink = await fetch(bobLink, form({ decision: 'approve', csrf: csrfOf(await (await fetch(annLink)).text()) }))
  t.equal(otherLink.status, 403, 'a form token is bound to its link')
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${task.taskId as string}`), 1)

  const bobCsrf = csrfOf(await (await fetch(bobLink)).text())
  const decided = await fetch(annLink, form({ decision: 'approve', comment: 'ship it', csrf: csrfOf(await (await fetch(annLink)).text()) }))
  t.equal(decided.status, 303, 'Post/Redirect/Get')
  t.equal(new URL(decided.headers.get('location')!, annLink).href, annLink)
  const after = await (await fetch(annLink)).text()
  t.notMatch(after, /<form/, 'no buttons once decided')
  t.match(after, /Approved by ann@example\.com at .*Comment: ship it/)

  const seq = (await svc.runtime.jsm.streams.info('TASKS')).state.last_seq
  const record = (await svc.app.inject({ url: `/api/tasks/${task.taskId as string}?min_seq=${seq}` })).json()
  t.match(record, { status: 'SUCCEEDED', output: { approved: true, approver: 'ann@example.com', comment: 'ship it' }, decidedBy: { via: 'approval', approver: 'ann@example.com' } })

  // the second approver, too late: the page shows the recorded outcome; their POST changes nothing
  const second = await fetch(bobLink, form({ decision: 'reject', csrf: bobCsrf }))
  t.equal(second.status, 303)
  t.match(await (await fetch(bobLink)).text(), /Approved by ann@example\.com/)
  t.equal(await countOn(svc.runtime, 'TASKS', `tasks.${task.taskId as string}`), 2, 'one decision only')

  const records = await svc.app.inject({ url: `/api/tasks/${task.taskId as string}/notifications` })
  t.equal(records.statusCode, 200)
  t.same(records.json().items.map((r: { recipient: string, kind: string, status: string }) => [r.recipient, r.kind, r.status]).sort(),
    [['ann@example.com', 'approval', 'sent'], ['bob@example.com', 'approval', 'sent']])
})

t.test('reject records a failure (error Rejected); a timeout shows on the page; a bad link is a 404 page', async t => {
  const { smtp, svc } = await start(t)
  const a = (await post(svc.app, '/api/tasks', { type: 'expense', title: 'Expense 1', input: { amount: 12 }, approvers: ['cy@example.com'], owner: 'ops' })).json()
  const [mail] = await smtp.until(1)
  const link = linkOf(mail!)
  const res = await fetch(link, form({ decision: 'reject', comment: 'too much', csrf: csrfOf(await (await fetch(link)).text()) }))
  t.equal(res.status, 303)
  t.match(await (await fetch(link)).text(), /Rejected by cy@example\.com at .* too much/)
  const seq = (await svc.runtime.jsm.streams.info('TASKS')).state.last_seq
  t.match((await svc.app.inject({ url: `/api/tasks/${a.taskId as string}?min_seq=${seq}` })).json(), { status: 'FAILED', error: 'Rejected', cause: 'too much', decidedBy: { approver: 'cy@example.com' } })

  const b = (await post(svc.app, '/api/tasks', { type: 'expense', title: 'Expense 2', input: {}, approvers: ['dee@example.com'], owner: 'ops', timeoutSeconds: 1 })).json()
  const [, mail2] = await smtp.until(2)
  const link2 = linkOf(mail2!)
  const csrf = csrfOf(await (await fetch(link2)).text())
  await until('the task timed out', async () => (await svc.app.inject({ url: `/api/tasks/${b.taskId as string}` })).json().status !== 'WAITING' ? true : undefined)
  const late = await fetch(link2, form({ decision: 'approve', csrf }))
  t.equal(late.status, 303)
  const page = await (await fetch(link2)).text()
  t.match(page, /Timed out at .*States\.Timeout/)
  t.notMatch(page, /<form/)

  const bad = await fetch(`${svc.url}/tasks/approval/a1.${a.taskId as string}.0.${'A'.repeat(43)}`)
  t.equal(bad.status, 404)
  t.match(await bad.text(), /This link is not valid/)
  t.equal((await fetch(`${svc.url}/tasks/approval/nonsense`)).status, 404)
})
