import t, { type Test } from 'tap'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { Analytics } from '@segment/analytics-node'
import RudderAnalytics from '@rudderstack/rudder-sdk-node'
import { startService, type Service } from '../fixtures/service.js'
import { httpTarget } from '../fixtures/http-target.js'

// The analytics SDKs applications already carry, unchanged, pointed at Jetway: Segment's
// @segment/analytics-node (`host`) and RudderStack's @rudderstack/rudder-sdk-node
// (`dataPlaneUrl`, gzip on, no Redis persistence). Each sends track, identify, page and a batch
// of 1,000; every event is then found once by GET /api/event/{user_id}. Behind a proxy that
// loses the first answer (a 503 after the service stored the batch, or no answer before the
// SDK's timeout), the SDK sends the batch again, and nothing is stored twice. Every socket
// either SDK opens goes to 127.0.0.1: neither reaches for another host (no settings CDN).

const KEY = 'wk_sdk_test_0123456789'

interface Item { event_id: string, event: string, user_id: string, parameters: Record<string, unknown> | null, anonymous_id?: string, context?: Record<string, unknown> }

/** Every address:port a socket of this process tried to reach, and every host name it looked up. */
function watchSockets (t: Test): { reached: Set<string> } {
  const reached = new Set<string>()
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket
    socket.on('connectionAttempt', (ip: string, port: number) => reached.add(`${ip}:${port}`))
    socket.on('lookup', (_err: Error | null, _address: string, _family: number, host: string) => reached.add(`lookup:${host}`))
    socket.on('connect', () => reached.add(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`))
  }
  subscribe('net.client.socket', onSocket)
  t.teardown(() => { unsubscribe('net.client.socket', onSocket) })
  return { reached }
}

/** Every item of a user's events, page by page, read after the stream's last write. */
async function eventsOf (svc: Service, user: string): Promise<Item[]> {
  const last = (await svc.runtime.jsm.streams.info('COLLECT')).state.last_seq
  const items: Item[] = []
  let cursor: string | null = null
  do {
    const r: { json: <T>() => T } = await svc.app.inject({ url: `/api/event/${encodeURIComponent(user)}?limit=1000&min_seq=COLLECT:${last}${cursor === null ? '' : `&cursor=${cursor}`}` })
    const page: { items: Item[], next_cursor: string | null } = r.json()
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  return items
}

function loopbackOnly (t: Test, reached: Set<string>, svc: Service): void {
  t.ok(reached.has(`127.0.0.1:${new URL(svc.url).port}`), 'the watch saw the SDK\'s connections to the service')
  t.same([...reached].filter(a => !a.startsWith('127.0.0.1:')), [], 'no socket to another host, no host name looked up')
}

const byName = (items: Item[]): Item[] => [...items].sort((a, b) => a.event < b.event ? -1 : 1)

/** A proxy to the service that, for its first `lose` requests, forwards them and then loses the answer: a 503, or silence until the client gave up. */
async function lossyProxy (t: Test, svc: Service, lose: { count: number, how: '503' | 'timeout' }) {
  let seen = 0
  const target = await httpTarget(t, (req, res) => {
    const n = seen++
    const headers: Record<string, string> = {}
    for (const h of ['content-type', 'content-encoding', 'authorization']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h]
    fetch(`${svc.url}${req.url}`, { method: req.method, headers, body: req.body }).then(async answer => {
      const body = await answer.text()
      if (n < lose.count && lose.how === '503') {
        res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"status":503}')
      } else if (n < lose.count) {
        res.on('close', () => {}) // the client gives up first; the answer never comes
      } else {
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(body)
      }
    }, (err: Error) => { res.writeHead(502).end(err.message) })
  })
  return { url: target.origin, requests: () => seen }
}

t.test('@segment/analytics-node: track, identify, page and a batch of 1,000, each found once', async t => {
  const { reached } = watchSockets(t)
  const svc = await startService(t, { listen: 0, env: { COLLECT_WRITE_KEYS: KEY } })
  const responses: number[] = []
  const analytics = new Analytics({ writeKey: KEY, host: svc.url, flushAt: 1000, flushInterval: 200, maxRetries: 3 })
  analytics.on('http_response', r => responses.push(r.status))
  const failed: unknown[] = []
  const done = (err: unknown): void => { if (err !== undefined && err !== null) failed.push(err) }

  analytics.track({ userId: 'seg-ann', event: 'Signed Up', properties: { plan: 'pro', price: 9.5, currency: 'EUR' }, context: { ip: '192.0.2.1' } }, done)
  analytics.identify({ userId: 'seg-ann', traits: { email: 'ann@example.com' } }, done)
  analytics.page({ userId: 'seg-ann', name: 'Pricing', category: 'Docs', properties: { url: 'http://127.0.0.1/pricing' } }, done)
  analytics.track({ anonymousId: 'seg-anon-1', event: 'Viewed' }, done)
  for (let n = 0; n < 1000; n++) analytics.track({ userId: 'seg-bulk', event: 'Item Viewed', properties: { n } }, done)
  await analytics.closeAndFlush()
  t.same(failed, [], 'the SDK reports every event delivered')
  t.ok(responses.length > 0 && responses.every(s => s === 200), `every request answered 200 (${responses.length})`)

  // by name: the clock-skew correction counts a request's time in flight as skew, so events
  // sent close together may come out of the search in another order than they were made
  const ann = byName(await eventsOf(svc, 'seg-ann'))
  t.match(ann, [
    { event: 'Signed Up', parameters: { plan: 'pro', price: 9.5, currency: 'EUR' }, context: { ip: '192.0.2.1', library: { name: '@segment/analytics-node' } } },
    { event: 'identify', parameters: { email: 'ann@example.com' } },
    { event: 'page:Pricing', parameters: { url: 'http://127.0.0.1/pricing', category: 'Docs' } }
  ])
  t.equal(ann.length, 3)
  t.match(await eventsOf(svc, 'seg-anon-1'), [{ event: 'Viewed', user_id: 'seg-anon-1', anonymous_id: 'seg-anon-1' }])
  const bulk = await eventsOf(svc, 'seg-bulk')
  t.equal(bulk.length, 1000)
  t.equal(new Set(bulk.map(i => i.parameters?.n)).size, 1000, 'each of the 1,000 once')
  t.equal(new Set(bulk.map(i => i.event_id)).size, 1000, 'each with its own messageId')
  loopbackOnly(t, reached, svc)
})

t.test('@rudderstack/rudder-sdk-node (gzip): track, identify, page and a batch of 1,000, each found once', async t => {
  const { reached } = watchSockets(t)
  const svc = await startService(t, { listen: 0, env: { COLLECT_WRITE_KEYS: KEY } })
  const rudder = new RudderAnalytics(KEY, { dataPlaneUrl: svc.url, flushAt: 1000, flushInterval: 200, logLevel: 'none' })
  const failed: unknown[] = []
  const done = (err?: unknown): void => { if (err !== undefined && err !== null) failed.push(err) }

  rudder.track({ userId: 'rud-ann', event: 'Signed Up', properties: { plan: 'pro' }, integrations: { All: true } }, done)
  rudder.identify({ userId: 'rud-ann', traits: { email: 'ann@example.com' } }, done)
  rudder.page({ userId: 'rud-ann', name: 'Pricing', properties: { url: 'http://127.0.0.1/pricing' } }, done)
  for (let n = 0; n < 1000; n++) rudder.track({ userId: 'rud-bulk', event: 'Item Viewed', properties: { n } }, done)
  await rudder.flush()
  t.same(failed, [], 'no callback got an error')

  const ann = byName(await eventsOf(svc, 'rud-ann'))
  t.match(ann, [
    { event: 'Signed Up', parameters: { plan: 'pro' }, integrations: { All: true }, context: { library: { name: 'analytics-node' } } },
    { event: 'identify', parameters: { email: 'ann@example.com' }, context: { traits: { email: 'ann@example.com' } } },
    { event: 'page:Pricing', parameters: { url: 'http://127.0.0.1/pricing' } }
  ])
  t.equal(ann.length, 3)
  const bulk = await eventsOf(svc, 'rud-bulk')
  t.equal(bulk.length, 1000)
  t.equal(new Set(bulk.map(i => i.parameters?.n)).size, 1000, 'each of the 1,000 once')
  loopbackOnly(t, reached, svc)
})

t.test('a retried batch stores nothing twice: Segment after a timeout, RudderStack after a 503', async t => {
  const svc = await startService(t, { listen: 0, env: { COLLECT_WRITE_KEYS: KEY } })

  const slow = await lossyProxy(t, svc, { count: 1, how: 'timeout' })
  const segment = new Analytics({ writeKey: KEY, host: slow.url, flushAt: 200, flushInterval: 200, maxRetries: 3, httpRequestTimeout: 1000 })
  const segFailed: unknown[] = []
  for (let n = 0; n < 200; n++) segment.track({ userId: 'seg-retry', event: 'e', properties: { n } }, err => { if (err !== undefined) segFailed.push(err) })
  await segment.closeAndFlush()
  t.same(segFailed, [])
  t.ok(slow.requests() >= 2, `the SDK sent the batch again (${slow.requests()} requests)`)

  const lossy = await lossyProxy(t, svc, { count: 1, how: '503' })
  const rudder = new RudderAnalytics(KEY, { dataPlaneUrl: lossy.url, flushAt: 200, flushInterval: 200, logLevel: 'none' })
  const rudFailed: unknown[] = []
  for (let n = 0; n < 200; n++) rudder.track({ userId: 'rud-retry', event: 'e', properties: { n } }, (err?: unknown) => { if (err !== undefined && err !== null) rudFailed.push(err) })
  await rudder.flush()
  t.same(rudFailed, [])
  t.ok(lossy.requests() >= 2, `the SDK sent the batch again (${lossy.requests()} requests)`)

  const seg = await eventsOf(svc, 'seg-retry')
  const rud = await eventsOf(svc, 'rud-retry')
  t.equal(seg.length, 200, 'Segment: each event once')
  t.equal(rud.length, 200, 'RudderStack: each event once')
  t.equal((await svc.runtime.jsm.streams.info('COLLECT')).state.messages, 400, 'and once in the stream: the retries were duplicates')
})
