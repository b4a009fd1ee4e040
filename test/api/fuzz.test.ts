import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { startService } from '../fixtures/service.js'
import { put, type Body } from '../fixtures/bodies.js'

// Every field of every route, with every value an attacker tries first: no answer may be a
// 5xx, and every 4xx is a problem+json body. (Each hostile class has a precise test in
// hostile.test.ts; this one is the net under them.)

const NASTY: unknown[] = [
  '', ' ', ' x', 'x ', '\r\n', 'a\rb', 'a\nb', '\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\u2028', '\ufeff',
  '\ud800', '\udfff', 'a\ud83d', '\ud83d\ude00', '%', '%00', '%ff', '%%', '.', 'a.b', '*', '>', 'a b', '../../etc/passwd',
  '"', '\\', '<script>', '{"a":1}', 'x'.repeat(257), 'x'.repeat(2001), 'y'.repeat(100_000),
  0, -1, 1e308, 12.5, true, null, {}, [], { eventId: 'x' }, ['a']
]

const collectEvent = { event_id: 'f1', event: 'view', user_id: 'u1', parameters: { order_id: 'o1', currency: 'KRW', price: 1 }, event_datetime: '2024-01-01T00:00:00Z' }
const grid = { id: 'g1', eventType: 'VRD.ML.CompleteEvent', topic: '/t', data: { eventId: 'job-1', desc: 'ok', status: 'Y' } }
const ce = { specversion: '1.0', id: 'c1', source: '/s', type: 'vrd.ml.CompleteEvent', data: { eventId: 'job-1', reason: 'ok' } }

t.test('no field of any route answers a 5xx, and every 4xx is problem+json', async t => {
  const { app } = await startService(t)
  const json = { 'content-type': 'application/json' }
  const requests: [string, () => Promise<LightMyRequestResponse>][] = []
  const body = (url: string, base: Body | Body[], fields: string[], headers: Record<string, string> = json, wrap = (b: Body): unknown => b) => {
    for (const field of fields) {
      for (const value of NASTY) {
        const one = Array.isArray(base) ? base[0]! : base
        requests.push([`${url} ${field}=${JSON.stringify(value)?.slice(0, 20)}`, async () =>
          await app.inject({ method: 'POST', url, payload: JSON.stringify(wrap(put(one, field, value))), headers })])
      }
    }
  }
  body('/api/collect', collectEvent, ['event_id', 'event', 'user_id', 'parameters', 'parameters.order_id', 'parameters.price', 'event_datetime'])
  body('/api/collect/batch', collectEvent, ['event_id', 'user_id', 'event_datetime'], json, b => ({ events: [b, { ...collectEvent, event_id: 'f2' }] }))
  // (min_seq is left out: an impossible sequence belongs to read-your-writes, src/api/consistency.ts)
  body('/api/search', { user_id: 'u1' }, ['user_id', 'event', 'from', 'to', 'limit', 'cursor'])
  body('/noti/pub', { eventType: 'TEST', userId: 'u1' }, ['eventType', 'userId', 'timeoutSeconds'])
  body('/noti/complete/job-1', { eventStatus: 'Y', eventDesc: '' }, ['eventStatus', 'eventDesc'])
  body('/noti/events', grid, ['id', 'eventType', 'topic', 'data', 'data.eventId', 'data.desc', 'data.status'], json, b => [b])
  body('/noti/events', ce, ['id', 'type', 'source', 'data', 'data.eventId', 'data.reason', 'specversion'], { 'content-type': 'application/cloudevents+json' })
  body('/api/tasks', { type: 't', input: {}, owner: 'o' }, ['type', 'title', 'input', 'approvers', 'timeoutSeconds', 'heartbeatSeconds', 'callbackUrl', 'owner'])
  body('/api/tasks/success', { taskToken: 't1.x', output: {} }, ['taskToken', 'output'])
  body('/api/tasks/failure', { taskToken: 't1.x' }, ['taskToken', 'error', 'cause'])
  body('/api/schedules', { name: 'n', cron: '* * * * *', owner: 'o', task: { type: 't' } }, ['name', 'cron', 'timezone', 'owner', 'task', 'task.type', 'task.input', 'task.approvers'])
  for (const value of NASTY.filter((v): v is string => typeof v === 'string' && v.length < 3000)) {
    const segment = encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '')) + (value.includes('\ud800') ? '%ED%A0%80' : '')
    for (const url of [`/api/event/${segment}`, `/api/event?user_id=${segment}&event=${segment}`, `/noti/jobs/${segment}`, `/nowhere/${segment}`, `/api/tasks/${segment}`, `/api/tasks?owner=${segment}&type=${segment}`, `/api/schedules/${segment}`]) {
      requests.push([`GET ${url.slice(0, 40)}`, async () => await app.inject({ url })])
    }
    requests.push([`complete ${segment.slice(0, 20)}`, async () => await app.inject({ method: 'POST', url: `/noti/complete/${segment}`, payload: '{"eventStatus":"Y"}', headers: json })])
    if (/^[\x20-\x7e]*$/.test(value)) {
      requests.push([`x-request-id ${value.slice(0, 20)}`, async () => await app.inject({ url: '/healthz', headers: { 'x-request-id': value } })])
      requests.push([`idempotency-key ${value.slice(0, 20)}`, async () => await app.inject({ method: 'POST', url: '/noti/pub', payload: '{"eventType":"TEST","userId":"u1"}', headers: { ...json, 'idempotency-key': value } })])
    }
  }

  const failures: string[] = []
  for (const [what, send] of requests) {
    const r = await send()
    if (r.statusCode >= 500) failures.push(`${what}: ${r.statusCode} ${r.body.slice(0, 120)}`)
    else if (r.statusCode >= 400 && r.headers['content-type'] !== 'application/problem+json') failures.push(`${what}: ${r.statusCode} as ${String(r.headers['content-type'])}`)
  }
  t.ok(requests.length > 800, `${requests.length} requests sent`)
  t.same(failures, [], 'no 5xx, every 4xx a problem body')
})
