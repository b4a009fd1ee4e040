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
