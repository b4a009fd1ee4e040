import t, { type Test } from 'tap'
import {
  backoffMs, classifyOutcome, decideAttempt, parseRetryAfter, type AttemptDecision, type AttemptOutcome, type DeliveryRetry
} from '../../src/domain/delivery.js'
import { OutboundErrorCodes } from '../../src/lib/outbound.js'

// The delivery decision, given/when/then (no NATS, no HTTP, no clock): given a policy and the
// number of the attempt just made, when it came back so at a time, then delivered, retry at T,
// or gave up and why.

const NOW = new Date('2030-01-01T00:00:00.000Z')
const at = (ms: number): Date => new Date(NOW.getTime() + ms)

const exponential: DeliveryRetry = { retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 1000, maxRetryAfterMs: 60_000 }
const linear: DeliveryRetry = { retry: 3, backoffPolicy: 'linear', backoffDelayMs: 500, maxRetryAfterMs: 60_000 }

const answer = (status: number, retryAfter?: string): AttemptOutcome => ({ kind: 'answer', status, ...(retryAfter === undefined ? {} : { retryAfter }) })
const error = (code: keyof typeof OutboundErrorCodes): AttemptOutcome => ({ kind: 'error', code: OutboundErrorCodes[code], message: `${code} happened` })

/** given a policy and attempt n; when an outcome at a time; then the decision. */
function given (policy: DeliveryRetry, attempt: number) {
  return {
    when: (outcome: AttemptOutcome, now = NOW) => ({
      then: (t: Test, expected: AttemptDecision, what = 'as decided') => t.same(decideAttempt(policy, attempt, outcome, now), expected, what)
    })
  }
}

t.test('a 2xx is delivered, whatever the attempt', async t => {
  given(exponential, 1).when(answer(200)).then(t, { kind: 'delivered' })
  given(exponential, 1).when(answer(204)).then(t, { kind: 'delivered' })
  given(exponential, 4).when(answer(201)).then(t, { kind: 'delivered' }, 'the last attempt too')
  given({ ...exponential, retry: 0 }, 1).when(answer(299)).then(t, { kind: 'delivered' })
})

t.test('an answer or error that may change is retried at now + the backoff', async t => {
  given(exponential, 1).when(answer(503)).then(t, { kind: 'retry', at: at(1000), backoffMs: 1000, reason: 'status 503' })
  given(exponential, 2).when(answer(500)).then(t, { kind: 'retry', at: at(2000), backoffMs: 2000, reason: 'status 500' }, 'exponential doubles')
  given(exponential, 3).when(answer(502)).then(t, { kind: 'retry', at: at(4000), backoffMs: 4000, reason: 'status 502' })
  given(linear, 3).when(answer(504)).then(t, { kind: 'retry', at: at(1500), backoffMs: 1500, reason: 'status 504' }, 'linear: delay × n')
  for (const status of [408, 429, 500, 599]) {
    given(linear, 1).when(answer(status)).then(t, { kind: 'retry', at: at(500), backoffMs: 500, reason: `status ${status}` }, String(status))
  }
  for (const code of ['timeout', 'unreachable', 'aborted'] as const) {
    given(linear, 1).when(error(code)).then(t, { kind: 'retry', at: at(500), backoffMs: 500, reason: OutboundErrorCodes[code] }, code)
  }
})

t.test("a peer's Retry-After is honoured when longer than the backoff, up to the cap", async t => {
  given(exponential, 1).when(answer(429, '7')).then(t, { kind: 'retry', at: at(7000), backoffMs: 7000, reason: 'status 429' }, 'seconds')
  given(exponential, 1).when(answer(503, 'Tue, 01 Jan 2030 00:00:30 GMT')).then(t, { kind: 'retry', at: at(30_000), backoffMs: 30_000, reason: 'status 503' }, 'an HTTP date')
  given(exponential, 1).when(answer(503, '3600')).then(t, { kind: 'retry', at: at(60_000), backoffMs: 60_000, reason: 'status 503' }, 'capped at maxRetryAfterMs')
  given(exponential, 3).when(answer(429, '1')).then(t, { kind: 'retry', at: at(4000), backoffMs: 4000, reason: 'status 429' }, 'shorter than the backoff: the backoff')
  given(exponential, 1).when(answer(503, 'soon')).then(t, { kind: 'retry', at: at(1000), backoffMs: 1000, reason: 'status 503' }, 'unreadable: ignored')
  given(exponential, 1).when(answer(404, '7')).then(t, { kind: 'gave-up', because: 'permanent', reason: 'status 404' }, 'no retry for a 404, whatever it asks')
})

t.test('an answer or error that will not change gives up at once', async t => {
  for (const status of [302, 400, 401, 403, 404, 409, 410, 422]) {
    given(exponential, 1).when(answer(status)).then(t, { kind: 'gave-up', because: 'permanent', reason: `status ${status}` }, String(status))
  }
  for (const code of ['refused', 'invalid', 'tooLarge'] as const) {
    given(exponential, 1).when(error(code)).then(t, { kind: 'gave-up', because: 'permanent', reason: OutboundErrorCodes[code] }, code)
  }
  given(exponential, 1).when({ kind: 'error', message: 'the event has no JSON object data' }).then(t, { kind: 'gave-up', because: 'permanent', reason: 'the event has no JSON object data' }, 'a call that could not be made')
})

t.test('after the last attempt (retry + 1) a retryable failure is exhausted', async t => {
  given(exponential, 4).when(answer(503)).then(t, { kind: 'gave-up', because: 'exhausted', reason: 'status 503' })
  given(exponential, 4).when(error('timeout')).then(t, { kind: 'gave-up', because: 'exhausted', reason: OutboundErrorCodes.timeout })
  given({ ...linear, retry: 0 }, 1).when(answer(500)).then(t, { kind: 'gave-up', because: 'exhausted', reason: 'status 500' }, 'retry 0: one attempt in all')
  given(exponential, 4).when(answer(400)).then(t, { kind: 'gave-up', because: 'permanent', reason: 'status 400' }, 'a permanent failure stays permanent on the last attempt')
})

t.test("the backoff is Knative's, at most a day", async t => {
  t.same([1, 2, 3, 4].map(n => backoffMs({ backoffPolicy: 'exponential', backoffDelayMs: 1000 }, n)), [1000, 2000, 4000, 8000])
  t.same([1, 2, 3].map(n => backoffMs({ backoffPolicy: 'linear', backoffDelayMs: 500 }, n)), [500, 1000, 1500])
  t.equal(backoffMs({ backoffPolicy: 'exponential', backoffDelayMs: 3_600_000 }, 30), 24 * 3_600_000)
  given({ ...exponential, retry: 100, backoffDelayMs: 3_600_000 }, 30).when(answer(500)).then(t, { kind: 'retry', at: at(86_400_000), backoffMs: 86_400_000, reason: 'status 500' })
})

t.test('outcome classes and Retry-After parsing', async t => {
  t.same(classifyOutcome(answer(200), 60_000, NOW), { kind: 'success' })
  t.same(classifyOutcome(answer(429, '7'), 60_000, NOW), { kind: 'transient', retryAfterMs: 7000 })
  t.same(classifyOutcome(answer(503), 60_000, NOW), { kind: 'transient' })
  t.same(classifyOutcome(answer(404, '7'), 60_000, NOW), { kind: 'permanent' })
  t.same(classifyOutcome({ kind: 'error', code: 'SOMETHING_ELSE', message: 'x' }, 60_000, NOW), { kind: 'permanent' }, 'an unknown code is not retried')

  const clock = new Date('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('0', 60_000, clock), 0)
  t.equal(parseRetryAfter(' 120 ', 60_000, clock), 60_000)
  t.equal(parseRetryAfter('30', 60_000, clock), 30_000)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:45 GMT', 60_000, clock), 45_000, 'an HTTP date')
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 01:00:00 GMT', 60_000, clock), 60_000, 'a far date is clamped')
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', 60_000, clock), 0, 'a past date is now')
  for (const bad of [undefined, '', '-5', '1.5', 'soon', '2026-01-01']) t.equal(parseRetryAfter(bad, 60_000, clock), undefined, `${String(bad)} unreadable`)
})
