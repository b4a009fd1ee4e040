import t from 'tap'
import { laneOf, matchesFilter, triggerOf, typeTokenOf } from '../../src/domain/triggers.js'

const defaults = { retry: 5, backoffPolicy: 'exponential' as const, backoffDelayMs: 1000, timeoutMs: 30_000 }
const event = { specversion: '1.0' as const, id: '1', source: '/shop', type: 'com.example.order', subject: 'eu/order-1', region: 'eu' }

t.test("Knative's attribute filter: exact matches, extensions too; a subject prefix", async t => {
  t.ok(matchesFilter({ attributes: {} }, event), 'no filter: everything')
  t.ok(matchesFilter({ attributes: { type: 'com.example.order', source: '/shop' } }, event))
  t.notOk(matchesFilter({ attributes: { type: 'com.example' } }, event), 'exact, not a prefix')
  t.ok(matchesFilter({ attributes: { region: 'eu' } }, event))
  t.notOk(matchesFilter({ attributes: { region: 'us' } }, event))
  t.notOk(matchesFilter({ attributes: { tier: 'gold' } }, event), 'an attribute the event lacks')
  t.ok(matchesFilter({ attributes: {}, subjectPrefix: 'eu/' }, event))
  t.notOk(matchesFilter({ attributes: {}, subjectPrefix: 'us/' }, event))
  t.notOk(matchesFilter({ attributes: {}, subjectPrefix: 'eu/' }, { ...event, subject: undefined }))
})

t.test('lanes: the CloudEvents subject, escaped; none: a lane of its own; long ones hashed', async t => {
  t.same(laneOf(event, 9), { token: 'eu/order-1', keyed: true })
  t.same(laneOf({ subject: 'a.b c' }, 9), { token: 'a%2Eb%20c', keyed: true })
  t.same(laneOf({}, 9), { token: '%-9', keyed: false })
  t.match(laneOf({ subject: 'x'.repeat(300) }, 1).token, /^%H[0-9a-f]{40}$/)
  t.equal(typeTokenOf('dev.knative.samples.t2'), 'dev%2Eknative%2Esamples%2Et2')
})

t.test('a new trigger: defaults filled in, durations read, bad fields named', async t => {
  const made = triggerOf({ name: 'orders', subscriber: { url: 'https://example.com/hook' }, delivery: { retry: 2, backoffDelay: 'PT0.5S' } }, defaults, '2030-01-01T00:00:00.000Z')
  t.same(made, {
    name: 'orders',
    filter: { attributes: {} },
    subscriber: { url: 'https://example.com/hook' },
    delivery: { retry: 2, backoffPolicy: 'exponential', backoffDelayMs: 500, backoffDelay: 'PT0.5S', timeoutMs: 30_000, timeout: 'PT30S' },
    createdAt: '2030-01-01T00:00:00.000Z'
  })
  const bad = triggerOf({ name: 'x', filter: { attributes: { 'Bad-Name': 'v' } }, subscriber: { url: 'file:///etc/passwd', secret: 'plain' }, delivery: { timeout: 'PT0S', deadLetterSink: { url: 'nope' } } }, defaults, '2030-01-01T00:00:00.000Z')
  t.same((bad as { field: string }[]).map(e => e.field), ['filter.attributes.Bad-Name', 'subscriber.url', 'subscriber.secret', 'delivery.timeout', 'delivery.deadLetterSink.url'])
})
