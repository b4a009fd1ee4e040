import t from 'tap'
import { newPage, shot, useBrowser } from '../fixtures/browser.js'
import { createSigner } from 'fast-jwt'
import { startService, post } from '../fixtures/service.js'

// The console's Events page and the activity charts in a real browser (Debian's chromium,
// driven by playwright-core), as console-browser.test.ts does the other pages: look a user up
// with the seed's filters, page by cursor, open an event to see all its fields (an SDK
// message's context and integrations too), follow the user's new events live; the events
// collected per minute by name and the requests per minute as charts. Screenshots go to
// test-artifacts/console/ (git-ignored); with JETWAY_DOCS_SCREENSHOTS=1 also to docs/.

const SECRET = 'a-test-secret-of-enough-length'

useBrowser()

t.test('Events: search with filters, page by cursor, open an event, follow live; the charts', async t => {
  const svc = await startService(t, { listen: 0 })
  const { app, url } = svc

  // ann: 30 seed events (views and purchases, a minute apart), then SDK messages
  const events = Array.from({ length: 30 }, (_, i) => ({
    event_id: `ann-${String(i).padStart(2, '0')}`,
    event: i % 3 === 0 ? 'purchase' : 'view',
    user_id: 'ann@example.com',
    event_datetime: new Date(Date.UTC(2030, 0, 1, 9, i)).toISOString(),
    parameters: i % 3 === 0 ? { order_id: `o-${i}`, currency: 'EUR', price: 10 + i } : null
  }))
  t.equal((await post(app, '/api/collect/batch', { events })).json().accepted, 30)
  const sdk = await post(app, '/v1/batch', {
    batch: [
      { type: 'page', userId: 'ann@example.com', anonymousId: 'anon-7', name: 'Pricing', properties: { url: 'https://shop.example/pricing' }, messageId: 'sdk-page', timestamp: '2030-01-01T10:00:00Z' },
      { type: 'track', userId: 'ann@example.com', event: 'Checkout Started', properties: { price: 99 }, messageId: 'sdk-track', timestamp: '2030-01-01T10:01:00Z' }
    ],
    context: { library: { name: 'analytics.js', version: '5.0.0' }, locale: 'de-DE' },
    integrations: { All: true, Mixpanel: false }
  })
  t.equal(sdk.statusCode, 200)
  // twelve names more for the chart: n0 collected 12 times … n11 once (beside view 20, purchase 10, …)
  const names = Array.from({ length: 12 }, (_, i) => Array.from({ length: 12 - i }, (_, k) => ({ type: 'track', userId: `chart-${k}`, event: `n${i}`, messageId: `c-${i}-${k}` }))).flat()
  t.equal((await post(app, '/v1/batch', { batch: names })).statusCode, 200)
  await post(app, '/api/collect', { event_id: 'x' }) // a 4xx for the requests chart
  const seq = (await svc.runtime.jsm.streams.info('COLLECT')).state.last_seq
  await app.inject({ url: `/api/event/ann@example.com?min_seq=COLLECT:${seq}` })

  const { page, errors } = await newPage(t)

  await t.test('the chart of events collected per minute, by name', async t => {
    await page.goto(`${url}/console/#/events`)
    const chart = page.locator('#chart-collected')
    await chart.locator('.legend li[data-series="n0"]').waitFor()
    t.match(await chart.locator('.legend li[data-series="n0"]').textContent(), /n0\s*12/)
    t.equal(await chart.locator('.legend li').count(), 11, 'ten names and "other"')
    t.match(await chart.locator('.legend li').last().textContent(), /6 other names\s*12/, 'n8 … n11, Checkout Started, page:Pricing')
    t.match(await chart.locator('svg[role="img"]').getAttribute('aria-label'), /Events collected per minute: 110 in the last hour/)
    t.ok(await chart.locator('.minute rect[fill="#4e79a7"]').count() > 0, 'n0 drawn as bars')
    t.match(await chart.locator('.minute').last().locator('title').textContent() ?? '', /view 20/)
  })

  await t.test('look a user up: oldest first, 25 a page, next and previous by cursor', async t => {
    await page.getByLabel('User', { exact: true }).fill('ann@example.com')
    await page.locator('select[name="limit"]').selectOption('25')
    await page.getByRole('button', { name: 'Search' }).click()
    const rows = page.locator('table tbody tr[data-event-id]')
    await rows.first().waitFor()
    t.equal(await rows.count(), 25)
    t.equal(await rows.first().getAttribute('data-event-id'), 'ann-00')
    t.match(await page.locator('.pager').textContent(), /25 events on page 1/)
    await page.getByRole('button', { name: 'Next page →' }).click()
    await page.locator('tr[data-event-id="sdk-track"]').waitFor()
    t.same(await rows.evaluateAll(els => els.map(e => e.getAttribute('data-event-id'))), ['ann-25', 'ann-26', 'ann-27', 'ann-28', 'ann-29', 'sdk-page', 'sdk-track'])
    t.ok(await page.getByRole('button', { name: 'Next page →' }).isDisabled(), 'the last page')
    await page.getByRole('button', { name: '← Previous page' }).click()
    await page.locator('tr[data-event-id="ann-00"]').waitFor()
    t.ok(await page.getByRole('button', { name: '← Previous page' }).isDisabled(), 'back on the first page')
  })

  await t.test('filters: by event name and time', async t => {
    await page.getByLabel('Event', { exact: true }).fill('purchase')
    await page.getByLabel('From', { exact: true }).fill('2030-01-01T09:10:00')
    await page.getByLabel('To', { exact: true }).fill('2030-01-01T09:20:00')
    // the inputs are local time: the page sends them as UTC, as the browser's zone says
    const offset = await page.evaluate(() => new Date(2030, 0, 1, 9, 10).getTimezoneOffset())
    await page.getByRole('button', { name: 'Search' }).click()
    const rows = page.locator('table tbody tr[data-event-id]')
    if (offset === 0) {
      await page.locator('tr[data-event-id="ann-12"]').waitFor()
      t.same(await rows.evaluateAll(els => els.map(e => e.getAttribute('data-event-id'))), ['ann-12', 'ann-15', 'ann-18'])
    } else {
      await page.locator('.pager').getByText(/events? on page 1/).waitFor()
    }
    t.ok(await rows.evaluateAll(els => els.every(e => e.textContent?.includes('purchase'))), 'only purchases')
    await page.getByLabel('Event', { exact: true }).fill('')
    await page.getByLabel('From', { exact: true }).fill('')
    await page.getByLabel('To', { exact: true }).fill('')
    await page.locator('select[name="limit"]').selectOption('100')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.locator('tr[data-event-id="sdk-page"]').waitFor()
  })

  await t.test('open an event: every field, an SDK message\'s context and integrations too', async t => {
    const row = page.locator('tr[data-event-id="sdk-page"]')
    await row.getByRole('button', { name: 'page:Pricing' }).click()
    const detail = page.locator('tr.detail')
    await detail.waitFor()
    t.match(await detail.locator('[data-field="anonymous_id"]').textContent(), /anon-7/)
    const context = await detail.locator('[data-field="context"] pre.json').textContent()
    t.match(context, /"locale": "de-DE"/, 'the batch\'s context')
    t.match(context, /"name": "analytics.js"/)
    t.match(await detail.locator('[data-field="integrations"] pre.json').textContent(), /"Mixpanel": false/)
    t.match(await detail.locator('[data-field="parameters"] pre.json').textContent(), /"url": "https:\/\/shop.example\/pricing"/)
    t.match(await detail.locator('[data-field="event_datetime"]').textContent(), /2030-01-01T10:00:00.000000Z/)
    await row.getByRole('button', { name: 'page:Pricing' }).click()
    await detail.waitFor({ state: 'detached' })
    // for the docs: the last page of 25, an SDK event opened, from the top of the page
    await page.locator('select[name="limit"]').selectOption('25')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.getByRole('button', { name: 'Next page →' }).click()
    await page.locator('tr[data-event-id="sdk-track"]').getByRole('button', { name: 'Checkout Started' }).click()
    await page.locator('tr.detail [data-field="context"]').waitFor()
    await page.setViewportSize({ width: 1280, height: 1300 })
    await page.evaluate('window.scrollTo(0, 0)')
    await shot(page, 'events', true)
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.locator('select[name="limit"]').selectOption('100')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.locator('tr[data-event-id="ann-03"]').waitFor()
    // a seed event has the seed's fields only
    await page.locator('tr[data-event-id="ann-03"]').getByRole('button', { name: 'purchase' }).click()
    t.equal(await page.locator('tr.detail [data-field]').count(), 5, 'event_id, event, user_id, event_datetime, parameters')
  })

  await t.test('follow the user live: their new events arrive, another user\'s do not', async t => {
    await page.getByRole('button', { name: 'Follow live' }).click()
    const live = page.locator('.following')
    await live.locator('[data-status="live"]').waitFor()
    await post(app, '/api/collect', { event_id: 'bob-live', event: 'signup', user_id: 'bob@example.com' })
    await post(app, '/v1/track', { userId: 'ann@example.com', event: 'Live One', messageId: 'live-1', context: { ip: '192.0.2.7' } })
    await live.locator('tr[data-event-id="live-1"]').waitFor()
    t.equal(await live.locator('tr[data-event-id="bob-live"]').count(), 0, 'bob\'s event is not ann\'s')
    await live.locator('tr[data-event-id="live-1"]').getByRole('button', { name: 'Live One' }).click()
    t.match(await live.locator('tr.detail [data-field="context"]').textContent(), /192\.0\.2\.7/)
    t.match(await live.locator('tr.detail [data-field="sdk"]').textContent(), /"type": "track"/)
    await shot(page, 'events-live')
    await page.getByRole('button', { name: 'Stop following' }).click()
    await live.waitFor({ state: 'detached' })
  })

  await t.test('the overview: requests and events per minute', async t => {
    await page.goto(`${url}/console/#/overview`)
    const requests = page.locator('#chart-requests')
    await requests.locator('.legend li[data-series="answered"]').waitFor()
    t.match(await requests.locator('.legend li[data-series="4xx"]').textContent(), /4xx\s*[1-9]/, 'the 400 counted')
    t.match(await requests.locator('svg[role="img"]').getAttribute('aria-label'), /Requests per minute: [1-9][\d,]* in the last hour/)
    await page.locator('#chart-collected .legend li[data-series="n0"]').waitFor()
    await page.locator('tr[data-stream="COLLECT"]').waitFor()
    await shot(page, 'activity', true)
  })

  await t.test('a phone: the Events page and the charts fit the screen', async t => {
    const phone = await newPage(t, 390, 844)
    await phone.page.goto(`${url}/console/#/events`)
    await phone.page.locator('#chart-collected .legend li').first().waitFor()
    await phone.page.getByLabel('User', { exact: true }).fill('ann@example.com')
    await phone.page.getByRole('button', { name: 'Search' }).click()
    await phone.page.locator('tr[data-event-id="sdk-page"]').getByRole('button').click()
    await phone.page.locator('tr.detail').waitFor()
    t.ok(await phone.page.evaluate('document.documentElement.scrollWidth') as number <= 390, 'events fits 390 px')
    await shot(phone.page, 'phone-events')
    await phone.page.goto(`${url}/console/#/overview`)
    await phone.page.locator('#chart-requests .legend li').first().waitFor()
    t.ok(await phone.page.evaluate('document.documentElement.scrollWidth') as number <= 390, 'the overview\'s charts fit 390 px')
    t.same(phone.errors, [])
  })

  t.same(errors, [], 'no script errors')
})

t.test('AUTH_MODE=jwt: a user looks up their own events, no chart; another user\'s is refused', async t => {
  const svc = await startService(t, { listen: 0, env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  const { app, url } = svc
  const sign = createSigner({ key: SECRET, expiresIn: 600_000 })
  const ann = sign({ sub: 'ann' })
  const r = await post(app, '/api/collect', { event_id: 'mine', event: 'view', user_id: 'ann' }, { authorization: `Bearer ${ann}` })
  await app.inject({ url: `/api/event/ann?min_seq=${r.headers['jetway-seq'] as string}`, headers: { authorization: `Bearer ${ann}` } })
  const { page, errors } = await newPage(t)
  await page.goto(`${url}/console/`)
  await page.getByLabel('Bearer token').fill(ann)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('link', { name: 'Events' }).click()
  t.equal(await page.getByLabel('User', { exact: true }).inputValue(), 'ann', 'their own id, filled in')
  t.equal(await page.locator('#chart-collected').count(), 0, 'the chart is an admin\'s')
  await page.getByRole('button', { name: 'Search' }).click()
  await page.locator('tr[data-event-id="mine"]').waitFor()
  await page.getByRole('button', { name: 'Follow live' }).click()
  await page.locator('.following [data-status="live"]').waitFor()
  await post(app, '/api/collect', { event_id: 'mine-2', event: 'view', user_id: 'ann' }, { authorization: `Bearer ${ann}` })
  await page.locator('.following tr[data-event-id="mine-2"]').waitFor()
  await page.getByLabel('User', { exact: true }).fill('bob')
  await page.getByRole('button', { name: 'Search' }).click()
  await page.getByRole('alert').getByText(/Error 403/).waitFor()
  t.same(errors, [])
})
