import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.js'

t.test("the relay's configuration: defaults, values, errors naming the variable", async t => {
  const c = loadConfig({})
  t.same(c.relay, { retry: 5, backoffPolicy: 'exponential', backoffDelayMs: 1000, maxRetryAfterMs: 300_000, timeoutMs: 30_000, maxStoredBody: 262_144, leaseTtlMs: 15_000 })
  const d = loadConfig({ RELAY_RETRY: '0', RELAY_BACKOFF_POLICY: 'linear', RELAY_BACKOFF_DELAY: '200ms', RELAY_MAX_RETRY_AFTER: '1m', OUTBOUND_TIMEOUT: '5s', RELAY_MAX_STORED_BODY: '1024', RELAY_LEASE_TTL: '5s' })
  t.same(d.relay, { retry: 0, backoffPolicy: 'linear', backoffDelayMs: 200, maxRetryAfterMs: 60_000, timeoutMs: 5000, maxStoredBody: 1024, leaseTtlMs: 5000 })
  t.throws(() => loadConfig({ RELAY_RETRY: 'many' }), ConfigError)
  t.throws(() => loadConfig({ RELAY_BACKOFF_POLICY: 'random' }), /RELAY_BACKOFF_POLICY/)
  t.throws(() => loadConfig({ RELAY_BACKOFF_DELAY: 'PT1S' }), /RELAY_BACKOFF_DELAY/)
})

t.test("task callbacks: the relay's policy shape; unset, what WORKER_MAX_DELIVER and WORKER_BACKOFF gave them", async t => {
  t.same(loadConfig({}).tasks.callback, { retry: 4, backoffPolicy: 'exponential', backoffDelayMs: 1000, maxRetryAfterMs: 3_600_000 }, 'five attempts, 1 s doubling, Retry-After up to 1 h')
  t.same(loadConfig({ WORKER_MAX_DELIVER: '3', WORKER_BACKOFF: '100ms' }).tasks.callback, { retry: 2, backoffPolicy: 'exponential', backoffDelayMs: 100, maxRetryAfterMs: 3_600_000 }, 'a deployment that tuned the worker variables keeps its callbacks as they were')
  const own = loadConfig({ WORKER_MAX_DELIVER: '3', WORKER_BACKOFF: '100ms', TASK_CALLBACK_RETRY: '0', TASK_CALLBACK_BACKOFF_POLICY: 'linear', TASK_CALLBACK_BACKOFF_DELAY: '2s', TASK_CALLBACK_MAX_RETRY_AFTER: '30s' })
  t.same(own.tasks.callback, { retry: 0, backoffPolicy: 'linear', backoffDelayMs: 2000, maxRetryAfterMs: 30_000 }, 'its own variables win')
  t.equal(own.workers.maxDeliver, 3, 'and leave the worker policy alone')
  t.throws(() => loadConfig({ TASK_CALLBACK_RETRY: '-1' }), /TASK_CALLBACK_RETRY/)
  t.throws(() => loadConfig({ TASK_CALLBACK_BACKOFF_POLICY: 'random' }), /TASK_CALLBACK_BACKOFF_POLICY/)
  t.throws(() => loadConfig({ TASK_CALLBACK_BACKOFF_DELAY: 'PT1S' }), /TASK_CALLBACK_BACKOFF_DELAY/)
  t.throws(() => loadConfig({ TASK_CALLBACK_MAX_RETRY_AFTER: 'soon' }), /TASK_CALLBACK_MAX_RETRY_AFTER/)
})
