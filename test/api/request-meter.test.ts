import t from 'tap'
import { RequestMeter } from '../../src/api/http/request-meter.js'

// The console's request rates, on an injected clock: per second over a minute, per minute over
// an hour, the buckets that time passed cleared.

t.test('per second and per minute, 4xx and 5xx apart; old buckets cleared as time passes', async t => {
  let now = Date.parse('2030-01-01T10:00:00.500Z')
  const meter = new RequestMeter(() => now)
  meter.record(200)
  meter.record(404)
  meter.record(503)
  let second = meter.rate()
  t.equal(second.perSecond.at(-1), 3)
  t.equal(second.errorsPerSecond.at(-1), 1)
  t.equal(second.total, 3)
  let minute = meter.perMinute()
  t.equal(minute.from, '2030-01-01T09:01:00.000Z', 'the hour ends with the current minute')
  t.same([minute.requests.at(-1), minute.clientErrors.at(-1), minute.serverErrors.at(-1)], [3, 1, 1])
  t.equal(minute.requests.length, 60)

  now += 90_000 // 10:01:30
  meter.record(201)
  second = meter.rate()
  t.same(second.perSecond.filter(n => n > 0), [1], 'the seconds of a minute ago are gone')
  minute = meter.perMinute()
  t.same(minute.requests.slice(-2), [3, 1], 'the last minute and this one')
  t.equal(minute.from, '2030-01-01T09:02:00.000Z')

  now += 59 * 60_000 // 11:00:30: 10:00 is the oldest minute kept no more
  minute = meter.perMinute()
  t.same(minute.requests.filter(n => n > 0), [1])
  t.equal(minute.requests[0], 1, '10:01 is the oldest minute now')
  now += 3 * 3_600_000
  t.same(meter.perMinute().requests.filter(n => n > 0), [], 'hours later: all cleared')
  t.equal(meter.rate().total, 4)
})
