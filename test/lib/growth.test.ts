import t from 'tap'
import { GrowthMeter } from '../../src/lib/growth.js'

// The console's growth rates: the slope over the last hour's samples, at most one per 10 s.

t.test('per hour over the samples of the last hour, none until two samples 10 s apart', async t => {
  let now = 0
  const g = new GrowthMeter(() => now)
  g.sample('a', 1000)
  t.same(g.growth('a'), { perHour: null, windowSeconds: 0 })
  now = 5_000
  g.sample('a', 9999)
  t.same(g.growth('a'), { perHour: null, windowSeconds: 0 }, 'a sample within 10 s of the last is ignored')
  now = 60_000
  g.sample('a', 2000)
  t.same(g.growth('a'), { perHour: 60_000, windowSeconds: 60 }, '+1000 in a minute')
  for (let m = 2; m <= 90; m++) { now = m * 60_000; g.sample('a', 1000 + m * 1000) }
  t.same(g.growth('a'), { perHour: 60_000, windowSeconds: 3600 }, 'the window keeps the last hour')
  now += 60_000
  g.sample('a', 0)
  t.ok(g.growth('a').perHour! < 0, 'shrinking (retention) is negative')
  t.same(g.growth('unknown'), { perHour: null, windowSeconds: 0 })
})
