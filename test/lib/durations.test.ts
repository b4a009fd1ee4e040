import t from 'tap'
import { formatDuration, parseDuration } from '../../src/lib/duration.js'
import { parseIsoDuration, toIsoDuration } from '../../src/lib/iso-duration.js'

// Durations are read by `ms` (operators' 500ms, 15s, 2m, 24h, 1d) and luxon (Knative's ISO 8601),
// behind guards that keep exactly the forms Jetway took before either library: these tables were
// taken from the hand-written parsers they replace.

t.test('operator durations: the forms taken, to the millisecond, and the forms refused', async t => {
  const taken: Array<[string, number]> = [
    ['500ms', 500],
    ['15s', 15000],
    ['2m', 120000],
    ['24h', 86400000],
    ['1d', 86400000],
    ['0', 0],
    ['1500', 1500],
    [' 1s ', 1000],
    ['1 s', 1000],
    ['1.5h', 5400000],
    ['0.0001s', 0],
    ['01s', 1000],
    ['1ms ', 1],
    ['\t2m\n', 120000],
    ['10000000000000000000000d', 8.64e+29],
    ['0.5ms', 1],
    ['2.5ms', 3],
  ]
  for (const [text, ms] of taken) t.equal(parseDuration(text), ms, JSON.stringify(text))
  // ms reads at most 100 characters: a longer duration (taken before) is refused, as config refuses it
  const refused = ['1.', '.5s', '-1s', '1S', '1w', '1y', '2 hours', '1sec', '', '  ', '1e3', '1_000', '\uff11s', '1.5.5s', 'NaN', 'Infinity', '1m1s', `${'0'.repeat(99)}1s`]
  for (const text of refused) t.equal(parseDuration(text), undefined, `${JSON.stringify(text.slice(0, 12))} refused`)
  t.same([90_000, 300, 120_000, 86_400_000, 1500].map(formatDuration), ['90s', '300ms', '2m', '1d', '1500ms'])
})

t.test('ISO 8601 durations: the forms taken, and the forms refused (years, months, signs, empty parts)', async t => {
  const taken: Array<[string, number]> = [
    ['PT0.2S', 200],
    ['PT1M30S', 90000],
    ['P1DT2H', 93600000],
    ['P2W', 1209600000],
    ['P1W2D', 777600000],
    ['pt1s', 1000],
    ['P1,5D', 129600000],
    ['PT1,5S', 1500],
    ['PT1.5M', 90000],
    ['P0.5D', 43200000],
    ['PT1H30M0.25S', 5400250],
    ['PT0S', 0],
    ['PT00001S', 1000],
    ['p1dt2h', 93600000],
    [' PT1S ', 1000],
    ['PT1.050S', 1050],
    ['P1.5W', 907200000],
    ['P007D', 604800000],
    ['PT1.234S', 1234],
    ['PT0.001S', 1],
  ]
  for (const [text, ms] of taken) t.equal(parseIsoDuration(text), ms, text)
  const refused = ['-PT1S', '1s', 'P', 'P1', 'P1D2W', 'P1DT', 'P1M', 'P1Y', 'PT', 'PT-1S', 'PT.5S', 'PT1', 'PT1.S', 'PT1H1H', 'PTS']
  for (const text of refused) t.equal(parseIsoDuration(text), undefined, `${text} refused`)
  t.equal(parseIsoDuration('PT1.2345678S'), 1234, 'a fraction of a millisecond is cut (luxon), where it was rounded')
  t.same([0, 1, 200, 1500, 90_000, 86_400_000, 123_456_789].map(toIsoDuration), ['PT0S', 'PT0.001S', 'PT0.2S', 'PT1.5S', 'PT90S', 'PT86400S', 'PT123456.789S'])
})
