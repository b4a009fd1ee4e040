import t from 'tap'
import { envelopeOf, toCollectEventV2, type Envelope } from '../../src/domain/tracking.js'
import type { SdkMessage } from '../../src/schema/api/tracking.js'

// The mapping of an analytics SDK message onto collect.event.received v2, pure: names,
// parameters, ids, and Segment's clock-skew correction to the microsecond.

const receivedAt = new Date('2030-06-01T12:00:00.000Z')
const env: Envelope = { receivedAt }
const sentAt = (text: string): Envelope => envelopeOf({ receivedAt, sentAt: text }) as Envelope
const id = (): string => '00000000-0000-4000-8000-000000000000'

t.test('names and parameters of each type; user, ids, context merged with the batch\'s', async t => {
  const base = { userId: 'u', messageId: 'm' }
  const of = (type: Parameters<typeof toCollectEventV2>[0], m: object, e: Envelope = env) => toCollectEventV2(type, { ...base, ...m } as SdkMessage, e, id)
  t.match(of('track', { event: 'Bought', properties: { price: 1 } }), { event: 'Bought', parameters: { price: 1 }, event_id: 'm', user_id: 'u', anonymous_id: null })
  t.match(of('identify', { traits: { a: 1 } }), { event: 'identify', parameters: { a: 1 } })
  t.match(of('page', { name: 'Home', properties: { url: 'x' } }), { event: 'page:Home', parameters: { url: 'x' } })
  t.match(of('page', { name: '' }), { event: 'page', parameters: null })
  t.match(of('screen', {}), { event: 'screen' })
  t.same((of('group', { groupId: 7, traits: { plan: 'pro', groupId: 'spoofed' } }) as { parameters: unknown }).parameters, { plan: 'pro', groupId: 7 }, 'the message\'s groupId wins')
  t.same((of('alias', { previousId: 'old' }) as { parameters: unknown }).parameters, { previousId: 'old' })
  t.match(toCollectEventV2('track', { anonymousId: 'a', event: 'e' } as SdkMessage, env, id), { user_id: 'a', anonymous_id: 'a', event_id: `api-${id()}` })
  t.match(toCollectEventV2('track', { userId: '', anonymousId: 'a', event: 'e' } as SdkMessage, env, id), { user_id: 'a' }, 'an empty userId is none')
  t.match(of('track', { event: 'e', context: { ip: '1', page: { url: 'm' } }, integrations: null }, { ...env, context: { ip: '0', locale: 'de' }, integrations: { All: false } }),
    { context: { ip: '1', locale: 'de', page: { url: 'm' } }, integrations: { All: false } })
  t.same(of('track', { userId: null, event: 'e' }), [{ field: 'userId', message: 'is required (or anonymousId)' }])
  t.same(of('group', { groupId: 'g', traits: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, i])) }), [{ field: 'traits', message: 'has more than 63 keys' }])
})

t.test('clock skew: timestamp + (receivedAt − sentAt), microseconds kept', async t => {
  const time = (m: object, e: Envelope = env): unknown => {
    const ev = toCollectEventV2('track', { userId: 'u', event: 'e', ...m } as SdkMessage, e, id)
    return Array.isArray(ev) ? ev : ev.event_datetime
  }
  t.equal(time({}), '2030-06-01T12:00:00.000000Z', 'no timestamp: received')
  t.equal(time({ timestamp: '2030-06-01T11:00:00.123456Z' }), '2030-06-01T11:00:00.123456Z', 'no sentAt: as sent')
  // the sender's clock 5 minutes ahead: sentAt 12:05 for a request received at 12:00
  t.equal(time({ timestamp: '2030-06-01T12:04:00.123456Z', sentAt: '2030-06-01T12:05:00.000Z' }), '2030-06-01T11:59:00.123456Z')
  t.equal(time({ originalTimestamp: '2030-06-01T12:04:00Z' }, sentAt('2030-06-01T12:05:00Z')), '2030-06-01T11:59:00.000000Z', 'the batch\'s sentAt; originalTimestamp')
  t.equal(time({ timestamp: '2030-06-01T12:04:00Z', originalTimestamp: '2020-01-01T00:00:00Z', sentAt: '2030-06-01T12:05:00+01:00' }), '2030-06-01T12:59:00.000000Z',
    'timestamp before originalTimestamp; offsets read')
  t.same(time({ timestamp: 'soon' }), [{ field: 'timestamp', message: 'must be an ISO 8601 date-time' }])
  t.same(time({ originalTimestamp: '2030-13-01T00:00:00Z' }), [{ field: 'originalTimestamp', message: 'must be an ISO 8601 date-time' }])
  t.same(time({ timestamp: '2030-06-01T12:04:00Z', sentAt: 'x' }), [{ field: 'sentAt', message: 'must be an ISO 8601 date-time' }])
  t.same(time({ timestamp: '0000-01-01T00:00:00Z', sentAt: '2031-01-01T00:00:00Z' }), [{ field: 'timestamp', message: 'is out of range once corrected by receivedAt − sentAt' }])
  const ev = toCollectEventV2('track', { userId: 'u', event: 'e', timestamp: 'T', sentAt: 'S' } as SdkMessage, env, id)
  t.ok(Array.isArray(ev))
  // the form Date.toJSON prints is read straight; its impossible days are not dates
  t.equal(time({ timestamp: '2030-06-01T11:00:00.123Z' }), '2030-06-01T11:00:00.123000Z')
  t.same(time({ timestamp: '2030-02-30T11:00:00.123Z' }), [{ field: 'timestamp', message: 'must be an ISO 8601 date-time' }])
  t.equal(time({ timestamp: '2030-06-01T12:04:00.000Z' }, sentAt('2030-06-01T12:05:00.000Z')), '2030-06-01T11:59:00.000000Z')
  t.same(envelopeOf({ receivedAt, sentAt: 'yesterday' }), [{ field: 'sentAt', message: 'must be an ISO 8601 date-time' }])
  const ok = toCollectEventV2('track', { userId: 'u', event: 'e', originalTimestamp: '2030-06-01T12:04:00Z' } as SdkMessage, sentAt('2030-06-01T12:05:00Z'), id)
  t.match(ok, { sdk: { type: 'track', timestamp: '2030-06-01T12:04:00Z', sent_at: '2030-06-01T12:05:00Z' }, received_at: '2030-06-01T12:00:00.000000Z' })
})
