import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { startService } from '../fixtures/service.js'
import { put, type Body } from '../fixtures/bodies.js'

// The relay's routes under the values an attacker tries first (as test/api/fuzz.test.ts does
// for the other routes): no answer may be a 5xx, and every 4xx is a problem+json body.
// RELAY_ALLOW is unset, so any call that gets as far as the network is refused.

const NASTY: unknown[] = [
  '', ' ', '\r\n', 'a\rb', '\u0000', '\u007f', '\u0085', '\u2028', '\ud800', '\ud83d\ude00', '%', '%00', '.', 'a.b', '*', '>',
  'a b', '../../etc/passwd', '"', '\\', '<script>', 'x'.repeat(2001), 'y'.repeat(100_000), 'http://169.254.169.254', 'file:///etc/passwd',
  0, -1, 1e308, 12.5, true, null, {}, [], ['a'], { a: '\r\n' }
]

const relayBody = { targetURL: 'http://127.0.0.1:9', targetAPI: '/x', headers: { h: 'v' }, body: { callback_uri: 'http://127.0.0.1:9/cb' } }
const ce = { specversion: '1.0', id: 'c1', source: '/s', type: 'com.example.t', subject: 'k', data: { a: 1 } }
const trigger = { name: 'fuzz', filter: { attributes: { type: 'com.example.t' } }, subscriber: { url: 'http://127.0.0.1:9' }, delivery: { retry: 1 } }

t.test("no field of the relay's routes answers a 5xx, and every 4xx is problem+json", async t => {
  const { app } = await startService(t, { env: { OUTBOUND_TIMEOUT: '1s' } })
  const json = { 'content-type': 'application/json' }
  const requests: [string, () => Promise<LightMyRequestResponse>][] = []
  const body = (method: 'GET' | 'POST', url: string, base: Body, fields: string[], headers: Record<string, string> = json, wrap = (b: Body): unknown => b): void => {
    for (const field of fields) {
      for (const value of NASTY) {
        requests.push([`${method} ${url} ${field}=${JSON.stringify(value)?.slice(0, 20)}`, async () =>
          await app.inject({ method, url, payload: JSON.stringify(wrap(put(base, field, value))), headers })])
      }
    }
  }
  const fields = ['targetURL', 'targetAPI', 'headers', 'headers.h', 'headers.Bad Name', 'body', 'body.callback_uri', 'body.callback-url', 'delivery', 'delivery.retry', 'delivery.backoffDelay', 'delivery.timeout']
  body('GET', '/sync', relayBody, fields.slice(0, 6))
  body('POST', '/sync', relayBody, fields.slice(0, 6))
  body('POST', '/async', relayBody, fields)
  body('POST', '/event', relayBody, ['targetURL', 'headers', 'body'])
  body('POST', '/event', ce, ['specversion', 'id', 'source', 'type', 'subject', 'data', 'data_base64', 'time', 'myext', 'Bad-Ext'], { 'content-type': 'application/cloudevents+json' })
  body('POST', '/event', ce, ['id', 'type'], { 'content-type': 'application/cloudevents-batch+json' }, b => [b])
  body('POST', '/api/triggers', trigger, ['name', 'filter', 'filter.attributes', 'filter.attributes.type', 'filter.attributes.Bad', 'filter.subjectPrefix', 'subscriber', 'subscriber.url', 'subscriber.relay', 'subscriber.secret', 'delivery.retry', 'delivery.backoffPolicy', 'delivery.backoffDelay', 'delivery.timeout', 'delivery.deadLetterSink'])
  body('POST', '/event/callback', { requestId: 'r1', result: 'ok' }, ['requestId', 'result'])
  for (const value of NASTY.filter((v): v is string => typeof v === 'string' && v.length < 3000)) {
    const segment = encodeURIComponent(value.replace(/[\ud800-\udfff]/g, ''))
    for (const url of [`/async/${segment}`, `/api/triggers/${segment}`, `/event/callback/list?requestId=${segment}`, `/event/callback?requestId=${segment}`]) {
      requests.push([`GET ${url.slice(0, 40)}`, async () => await app.inject({ url })])
    }
    requests.push([`DELETE trigger ${segment.slice(0, 20)}`, async () => await app.inject({ method: 'DELETE', url: `/api/triggers/${segment}` })])
    if (/^[\x20-\x7e]*$/.test(value)) {
      requests.push([`ce-type ${value.slice(0, 20)}`, async () => await app.inject({ method: 'POST', url: '/event', headers: { 'ce-specversion': '1.0', 'ce-id': 'h1', 'ce-source': '/s', 'ce-type': value, 'content-type': 'text/plain' }, payload: 'x' })])
      requests.push([`webhook-signature ${value.slice(0, 20)}`, async () => await app.inject({ method: 'POST', url: '/event/callback', headers: { ...json, 'webhook-id': value, 'webhook-timestamp': value, 'webhook-signature': value }, payload: '{}' })])
      requests.push([`idempotency-key ${value.slice(0, 20)}`, async () => await app.inject({ method: 'POST', url: '/async', headers: { ...json, 'idempotency-key': value }, payload: JSON.stringify(relayBody) })])
    }
  }

  const failures: string[] = []
  for (const [what, send] of requests) {
    const r = await send()
    if (r.statusCode >= 500) failures.push(`${what}: ${r.statusCode} ${r.body.slice(0, 160)}`)
    else if (r.statusCode >= 400 && r.headers['content-type'] !== 'application/problem+json') failures.push(`${what}: ${r.statusCode} as ${String(r.headers['content-type'])}`)
  }
  t.ok(requests.length > 1500, `${requests.length} requests sent`)
  t.same(failures, [], 'no 5xx, every 4xx a problem body')
})
