import t from 'tap'
import { keepRunning } from '../../src/lib/retry.js'

t.test('keepRunning: a stop during a backoff ends the loop without waiting the backoff out', async t => {
  const stopping = new AbortController()
  let stopped = false
  let runs = 0
  const loop = keepRunning(async () => {
    runs++
    if (runs === 2) { stopped = true; stopping.abort() }
    throw new Error('no leader')
  }, { stopped: () => stopped, onError: () => false, firstBackoffMs: 10, maxBackoffMs: 10, signal: stopping.signal })
  await loop
  t.equal(runs, 2, 'it ran until stopped')

  // the backoff under way when the stop comes: an hour, were it waited out (the test would time out)
  const hour = new AbortController()
  let stop = false
  let failed!: () => void
  const firstFailure = new Promise<void>(resolve => { failed = resolve })
  const long = keepRunning(async () => { failed(); throw new Error('no leader') }, { stopped: () => stop, onError: () => false, firstBackoffMs: 3_600_000, signal: hour.signal })
  await firstFailure
  stop = true
  hour.abort()
  await long
  t.pass('ended during its hour of backoff')
})
