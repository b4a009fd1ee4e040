import t from 'tap'
import { chromium } from 'playwright-core'
import { startService, post } from '../fixtures/service.js'
import { smtpServer } from '../fixtures/smtp.js'
import { freePort } from '../fixtures/process.js'

// A person's approval in a real browser (Debian's chromium, driven by playwright-core): the
// emailed link opens the page, Approve records the decision, and the page shows the outcome.

t.test('open the emailed link in chromium, click Approve, see the recorded outcome', async t => {
  const smtp = await smtpServer(t)
  const port = await freePort()
  const svc = await startService(t, { listen: port, env: { SMTP_URL: smtp.url, PUBLIC_URL: `http://127.0.0.1:${port}` } })
  const { taskId } = (await post(svc.app, '/api/tasks', {
    type: 'purchase', title: 'Buy 3 laptops', input: { amount: 4200, currency: 'EUR' }, approvers: ['erin@example.com'], owner: 'it@example.com'
  })).json()
  const [mail] = await smtp.until(1)
  const link = /Approve or reject: (\S+)/.exec(mail!.text)![1]!

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, javaScriptEnabled: false })
  const opened = await page.goto(link)
  t.equal(opened?.status(), 200)
  t.equal(await page.locator('h1').textContent(), 'Buy 3 laptops')
  t.match(await page.locator('pre').textContent(), /"amount": 4200/)
  const approve = page.getByRole('button', { name: 'Approve' })
  t.ok(await approve.isVisible(), 'the Approve button shows on a phone-sized screen')
  t.ok(await page.getByRole('button', { name: 'Reject' }).isVisible())
  const box = await approve.boundingBox()
  t.ok(box !== null && box.x >= 0 && box.x + box.width <= 390, 'and fits its width')

  await page.getByLabel('Comment (optional)').fill('within budget')
  await Promise.all([page.waitForURL(link), approve.click()])
  const outcome = page.locator('#outcome')
  t.match(await outcome.textContent(), /Approved by erin@example\.com at .*Comment: within budget/)
  t.equal(await outcome.getAttribute('data-status'), 'SUCCEEDED')
  t.equal(await page.locator('form').count(), 0, 'no buttons once decided')

  const seq = (await svc.runtime.jsm.streams.info('TASKS')).state.last_seq
  t.match((await svc.app.inject({ url: `/api/tasks/${taskId as string}?min_seq=${seq}` })).json(), {
    status: 'SUCCEEDED', output: { approved: true, approver: 'erin@example.com', comment: 'within budget' }
  })
})
