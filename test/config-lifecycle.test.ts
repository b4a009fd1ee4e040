import t from 'tap'
import { loadConfig } from '../src/config.js'
import { loadStreamConfigs } from '../src/store/streams.js'

// The data lifecycle's variables: RETENTION_<STREAM>, KEEP_FINISHED, ERASURE_KEY. A retention
// that would cut into something still alive stops the start with a message naming the variable.

t.test('RETENTION_<STREAM> becomes max_age; the duplicate window is never longer', async t => {
  const config = loadConfig({ RETENTION_COLLECT: '400d', RETENTION_DLQ: '30s', RETENTION_NOTIFY: '2d', RETENTION_JOBS: '45d' })
  t.same(config.retention, { COLLECT: 400 * 86_400_000, DLQ: 30_000, NOTIFY: 2 * 86_400_000, JOBS: 45 * 86_400_000 })
  const streams = new Map((await loadStreamConfigs(config)).map(s => [s.name, s]))
  t.equal(streams.get('COLLECT')!.max_age, 400 * 86_400e9)
  t.equal(streams.get('COLLECT')!.duplicate_window, 120e9, 'DUPLICATE_WINDOW (2m) where the retention is longer')
  t.equal(streams.get('DLQ')!.max_age, 30e9)
  t.equal(streams.get('DLQ')!.duplicate_window, 30e9, 'the retention where it is shorter than DUPLICATE_WINDOW')
  t.equal(streams.get('MEETINGS')!.max_age, 0, 'unset: kept forever')
  t.equal(streams.get('ERASURES')!.max_age, 0, 'ERASURES has no RETENTION_ at all')
})

t.test('a retention that would cut into a live aggregate is refused, naming the variable', async t => {
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ RETENTION_MEETINGS: '400d' }, /RETENTION_MEETINGS=400d: a meeting lives until it is past.*; takes nothing: leave it unset/],
    [{ RETENTION_TASKS: '400d' }, /RETENTION_TASKS=400d: TASKS holds schedules/],
    [{ RETENTION_RELAY: '400d' }, /RETENTION_RELAY=400d: RELAY holds triggers/],
    [{ RETENTION_JOBS: '12h' }, /RETENTION_JOBS=12h: a job may wait up to 30d.*; takes a duration of at least/],
    [{ RETENTION_JOBS: '30d' }, /RETENTION_JOBS=30d: a job may wait/],
    [{ RETENTION_JOBS: '40d', JOB_TIMEOUT: '60d' }, /RETENTION_JOBS=40d: a job may wait up to 60d/],
    [{ RETENTION_NOTIFY: '1m' }, /RETENTION_NOTIFY=1m: a notification request is retried for up to/],
    [{ RETENTION_LEASES: '5s' }, /RETENTION_LEASES=5s: a held lease is renewed within RELAY_LEASE_TTL/],
    [{ RETENTION_COLLECT: '500ms' }, /RETENTION_COLLECT=500ms: takes a duration .* from 1s/],
    [{ RETENTION_COLLECT: 'a year' }, /RETENTION_COLLECT="a year"/],
    [{ KEEP_FINISHED: '10ms' }, /KEEP_FINISHED=10ms: takes a duration .* from 1s/],
    [{ KEEP_FINISHED: 'soon' }, /KEEP_FINISHED=soon: takes a duration/],
    [{ ERASURE_KEY: 'short' }, /ERASURE_KEY=\(5 characters, not shown\): takes at least 32 characters/]
  ]
  for (const [env, message] of refused) t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  // every refusal at once, one line each
  t.throws(() => loadConfig({ RETENTION_MEETINGS: '1d', RETENTION_RELAY: '1d' }), /RETENTION_MEETINGS[^]*\n {2}RETENTION_RELAY/)
  t.equal(loadConfig({ RETENTION_JOBS: '31d' }).retention.JOBS, 31 * 86_400_000, 'longer than the longest a job can wait')
  t.equal(loadConfig({ RETENTION_LEASES: '1m' }).retention.LEASES, 60_000)
  t.equal(loadConfig({ KEEP_FINISHED: '7d' }).keepFinishedMs, 7 * 86_400_000)
  t.equal(loadConfig({}).keepFinishedMs, undefined, 'unset: finished things are kept')
  t.notOk(JSON.stringify(catchMessage(() => loadConfig({ ERASURE_KEY: 'secret-ish' }))).includes('secret-ish'), 'the message does not echo the key')
})

function catchMessage (fn: () => unknown): string {
  try {
    fn()
    return ''
  } catch (err) {
    return (err as Error).message
  }
}
