import t from 'tap'
import { newPage, shot, useBrowser } from '../fixtures/browser.js'
import { createSigner } from 'fast-jwt'
import { startService, post } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'
import { until } from '../fixtures/wait.js'
import { eventIdFor } from '../../src/api/jobs.js'
import { appendEvent } from '../../src/store/events.js'
import { Events } from '../../src/schema/events/index.js'
import { Subjects } from '../../src/store/subjects.js'

// The console in a real browser (Debian's chromium, driven by playwright-core): every page
// loads with its data, live events arrive over SSE, a task is approved, a dead letter is
// replayed, the pages fit a phone, and in AUTH_MODE=jwt the token stays out of every URL.
// Screenshots of each page go to test-artifacts/console/ (git-ignored); with
// JETWAY_DOCS_SCREENSHOTS=1 the overview and the live tail are also written to docs/.

const SECRET = 'a-test-secret-of-enough-length'

useBrowser()

t.test('every page of the console, live over SSE; approve a task; replay a dead letter; a phone', async t => {
  const target = await httpTarget(t)
  const svc = await startService(t, { listen: 0, env: { WORKER_BACKOFF: '50ms', WORKER_MAX_DELIVER: '2', RELAY_ALLOW: '127.0.0.0/8', TIMER_TICK: '100ms' } })
  const { app, url } = svc

  // what the pages will show
  for (const [i, event] of ['view', 'cart', 'purchase'].entries()) {
    await post(app, '/api/collect', { event_id: `e${i}`, event, user_id: 'ann@example.com', parameters: { price: 10 * i } })
  }
  const done = (await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ann@example.com' })).json().eventId as string
  await post(app, `/noti/complete/${done}`, { eventStatus: 'Y', eventDesc: 'model trained' })
  const waiting = (await post(app, '/noti/pub', { eventType: 'DEPLOY', userId: 'bob@example.com' })).json().eventId as string
  const meeting = (await post(app, '/api/meetings', {
    title: 'Weekly sync',
    startsAt: '2030-05-01T10:00:00Z',
    durationMinutes: 30,
    location: 'Room 1',
    participants: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }],
    organizer: { userId: 'olga', email: 'olga@example.com' }
  })).json().id as string
  const task = (await post(app, '/api/tasks', {
    type: 'deploy', title: 'Deploy v2 to prod', input: { version: '2.0.0' }, approvers: ['erin@example.com'], owner: 'ops@example.com'
  })).json().taskId as string
  const ghost = eventIdFor('ghost', 'k')
  // the intake refuses a job never requested (404): a dead letter comes from a completion stored otherwise
  await appendEvent(svc.runtime.js, {
    def: Events.jobCompleted,
    data: { eventId: ghost, eventStatus: 'N', eventDesc: 'no such job yet', origin: 'intake' },
    subject: Subjects.jobCompleted(ghost),
    source: '/test',
    about: ghost,
    time: new Date()
  })
  const letter = await until('a dead letter', async () => (await app.inject({ url: '/api/admin/dlq' })).json().items[0])
  await post(app, '/sync', { targetURL: target.origin, targetAPI: '/hello', body: { hi: 1 } })

  const { page, errors } = await newPage(t)

  await t.test('overview: streams, consumers, read models, dead letters', async t => {
    await page.goto(`${url}/console/#/overview`)
    await page.locator('tr[data-stream="JOBS"]').waitFor()
    t.match(await page.locator('tr[data-stream="COLLECT"]').textContent(), /COLLECT.*collect\.>.*3/)
    t.match(await page.locator('tr[data-consumer="completion-worker"]').textContent(), /completion-worker/)
    await page.locator('tr[data-projection="collect-events"]').getByText('current').waitFor()
    t.match(await page.locator('a.card[href="#/dlq"]').textContent(), /Dead letters\s*1/)
    t.equal(await page.locator('[data-durability]').getAttribute('data-durability'), 'external', 'the fsync of a NATS_URL server is its own')
    t.match(await page.locator('.card', { hasText: 'Durability' }).textContent(), /Durability\s*external.*as the nats-server at NATS_URL is configured \(JetStream's default: every 2m/)
    t.match(await page.locator('[data-disk="streams"]').textContent(), /^streams [\d.]+ (B|KiB|MiB)$/)
    t.match(await page.locator('[data-disk="read-model"]').textContent(), /^read models [\d.]+ (KiB|MiB) \(WAL [\d.]+ (B|KiB|MiB)\)/)
    t.match(await page.locator('td[data-growth="COLLECT"]').textContent(), /^—/, 'no growth before a second sample')
    // the overview samples sizes at most every 10 s: events written now show as growth at the next
    for (let i = 0; i < 30; i++) await post(app, '/api/collect', { event_id: `grow-${i}`, event: 'view', user_id: 'dan@example.com' })
    await page.locator('td[data-growth="COLLECT"]', { hasText: /^\+[\d.]+ (B|KiB|MiB)\/h\+[\d,]+\/h msgs$/ }).waitFor({ timeout: 40_000 })
    await shot(page, 'overview', true)
  })

  await t.test('live tail: a new event arrives over SSE; a type filter keeps only its types', async t => {
    await page.goto(`${url}/console/#/tail`)
    await page.locator('.live-state [data-status="live"]').waitFor()
    await page.locator('li.event[data-type="collect.event.received"]').first().waitFor()
    const fresh = page.locator('li.event', { hasText: 'collect.user.cy@example%2Ecom.signup' })
    t.equal(await fresh.count(), 0, 'not there before it happens')
    await post(app, '/api/collect', { event_id: 'live-1', event: 'signup', user_id: 'cy@example.com' })
    await fresh.waitFor()
    t.equal(await page.locator('li.event').first().getAttribute('data-type'), 'collect.event.received', 'newest on top')
    await fresh.locator('button.event-head').click()
    t.match(await fresh.locator('pre.json').textContent(), /"event_id": "live-1"/)
    await shot(page, 'tail', true)

    await page.fill('#types', 'job.*')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.getByText('Waiting for events of type job.*').or(page.locator('li.event[data-type^="job."]').first()).waitFor()
    await page.locator('li.event[data-type^="collect."]').first().waitFor({ state: 'detached' })
    // a collect event appended before a job event: the job event shows, the collect one never
    await post(app, '/api/collect', { event_id: 'live-2', event: 'filtered', user_id: 'cy@example.com' })
    const later = (await post(app, '/noti/pub', { eventType: 'AFTER_FILTER', userId: 'cy@example.com' })).json().eventId as string
    await page.locator('li.event', { hasText: later }).first().waitFor()
    t.equal(await page.locator('li.event[data-type^="collect."]').count(), 0, 'collect events filtered out')
    t.ok(await page.locator('li.event[data-type^="job."]').count() > 0, 'job events shown')
  })

  await t.test('jobs: a status arrives live', async t => {
    await page.goto(`${url}/console/#/jobs`)
    const row = page.locator(`tr[data-job="${waiting}"]`)
    await row.locator('[data-status="pending"]').waitFor()
    t.match(await page.locator(`tr[data-job="${done}"]`).textContent(), /succeeded.*model trained/)
    await page.locator('.live-state [data-status="live"]').waitFor()
    await post(app, `/noti/complete/${waiting}`, { eventStatus: 'N', eventDesc: 'deploy failed' })
    await row.locator('[data-status="failed"]').waitFor()
    t.match(await row.textContent(), /deploy failed/)
    await shot(page, 'jobs')
  })

  await t.test('meetings: the delivery record of each email', async t => {
    await page.goto(`${url}/console/#/meetings`)
    const row = page.locator(`li[data-meeting="${meeting}"]`)
    await row.getByText('2 sent').waitFor()
    await row.locator('button.row-head').click()
    await row.locator('tbody tr').nth(1).waitFor()
    t.match(await row.locator('tbody').textContent(), /ann@example\.com.*invite.*sent/)
    await shot(page, 'meetings')
  })

  await t.test('tasks: approve a waiting task', async t => {
    await page.goto(`${url}/console/#/tasks`)
    const row = page.locator(`li[data-task="${task}"]`)
    await row.getByText('Deploy v2 to prod').waitFor()
    await shot(page, 'tasks')
    await row.getByLabel('Comment (optional)').fill('ship it')
    await row.getByRole('button', { name: 'Approve' }).click()
    await row.waitFor({ state: 'detached' })
    t.ok(await page.getByText('No task waits for a decision.').isVisible(), 'the empty state')
    const seq = (await svc.runtime.jsm.streams.info('TASKS')).state.last_seq
    t.match((await app.inject({ url: `/api/tasks/${task}?min_seq=TASKS:${seq}` })).json(), {
      status: 'SUCCEEDED', output: { approved: true, approver: 'console', comment: 'ship it', via: 'console' }
    })
    await page.getByRole('tab', { name: 'Succeeded' }).click()
    await page.locator(`li[data-task="${task}"]`).getByText('succeeded').first().waitFor()
  })

  await t.test('dead letters: replay one once its job exists', async t => {
    await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'ghost' }, { 'idempotency-key': 'k' })
    await page.goto(`${url}/console/#/dlq`)
    const row = page.locator(`li[data-dlq="${letter.dlqSeq as number}"]`)
    await row.getByText(`no job.requested for eventId ${ghost}`).waitFor()
    await shot(page, 'dlq')
    page.once('dialog', dialog => { dialog.accept().catch(() => {}) })
    await row.getByRole('button', { name: 'Replay' }).click()
    await row.getByText(/replayed as JOBS:\d+/).waitFor()
    const job = await until('the replayed completion', async () => {
      const j = (await app.inject({ url: `/noti/jobs/${ghost}` })).json()
      return j.status === 'PENDING' ? undefined : j
    })
    t.match(job, { status: 'N', eventDesc: 'no such job yet' })
  })

  await t.test('relay: requests with their attempts, triggers', async t => {
    await page.goto(`${url}/console/#/relay`)
    await page.locator('li.row', { hasText: `${target.origin}/hello` }).getByText('answered').waitFor()
    await page.getByRole('tab', { name: 'Triggers and deliveries' }).click()
    await page.locator('tr[data-trigger="receive-cloudevents"]').waitFor()
    await page.getByText('Every delivery succeeded at its first attempt.').waitFor()
    await shot(page, 'relay')
  })

  await t.test('a phone: no page wider than the screen', async t => {
    const phone = await newPage(t, 390, 844)
    for (const path of ['overview', 'tail', 'jobs', 'meetings', 'tasks', 'dlq', 'relay']) {
      await phone.page.goto(`${url}/console/#/${path}`)
      await phone.page.locator(`#page-${path}`).waitFor()
      await phone.page.locator('.boot').first().waitFor({ state: 'detached' }).catch(() => {})
      const width = await phone.page.evaluate('document.documentElement.scrollWidth') as number
      t.ok(width <= 390, `${path} fits 390 px (${width})`)
      await shot(phone.page, `phone-${path}`)
    }
    t.same(phone.errors, [])
  })

  t.same(errors, [], 'no script errors')
})

t.test('AUTH_MODE=jwt: sign in with a token, see only one\'s own events; the token never in a URL', async t => {
  const svc = await startService(t, { listen: 0, env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const { app, url } = svc
  const sign = createSigner({ key: SECRET, expiresIn: 600_000 })
  const ann = sign({ sub: 'ann' })
  const bob = sign({ sub: 'bob' })
  const { page, errors } = await newPage(t)
  const urls: string[] = []
  page.on('request', r => urls.push(r.url()))

  await page.goto(`${url}/console/`)
  await page.getByLabel('Bearer token').fill(ann)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('.who').getByText('ann').waitFor()
  t.equal(await page.getByRole('link', { name: 'Overview' }).count(), 0, 'no operator pages for a user')
  t.equal(await page.getByRole('link', { name: 'Dead letters' }).count(), 0)
  t.equal(await page.evaluate(() => sessionStorage.getItem('jetway.token')), ann, 'kept for the tab')

  await page.locator('.live-state [data-status="live"]').waitFor()
  await post(app, '/api/collect', { event_id: 'b1', event: 'secret', user_id: 'bob' }, { authorization: `Bearer ${bob}` })
  await post(app, '/api/collect', { event_id: 'a1', event: 'mine', user_id: 'ann' }, { authorization: `Bearer ${ann}` })
  await page.locator('li.event', { hasText: 'collect.user.ann.mine' }).waitFor()
  t.equal(await page.locator('li.event', { hasText: 'collect.user.bob' }).count(), 0, 'bob\'s event is not shown to ann')
  await shot(page, 'jwt-tail')

  t.ok(urls.length > 5)
  t.notOk(urls.some(u => u.includes(ann) || u.includes('access_token')), 'no URL carries the token')

  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByLabel('Bearer token').waitFor()
  t.equal(await page.evaluate(() => sessionStorage.getItem('jetway.token')), null)
  t.same(errors, [])
})
