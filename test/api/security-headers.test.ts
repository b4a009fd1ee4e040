import t, { type Test } from 'tap'
import { startService } from '../fixtures/service.js'
import { readSse } from '../fixtures/sse-fetch.js'

// Security headers (src/api/edge.ts) on every kind of answer: JSON, problem+json (from a
// route, from the 404 handler, from before routing), SSE, and the pages, which keep their
// own Content-Security-Policy.

const EVERYWHERE: Record<string, string | RegExp> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': /frame-ancestors '(none|self)'/
}

/** The policy of the answers that are not pages: nothing to load, frame, or submit. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

function check (t: Test, what: string, headers: Headers): void {
  for (const [name, value] of Object.entries(EVERYWHERE)) t.match(headers.get(name), value, `${what}: ${name}`)
  t.equal(headers.get('strict-transport-security'), null, `${what}: no HSTS unless configured`)
}

t.test('every kind of answer carries them; the pages keep their own policy', async t => {
  const { url } = await startService(t, { listen: 0 })

  const json = await fetch(`${url}/api/event/alice`)
  t.equal(json.status, 200)
  check(t, 'JSON', json.headers)
  t.equal(json.headers.get('content-security-policy'), API_CSP)

  const invalid = await fetch(`${url}/api/collect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(invalid.status, 400)
  t.match(invalid.headers.get('content-type'), /^application\/problem\+json/)
  check(t, 'a 400 problem', invalid.headers)

  const missing = await fetch(`${url}/no/such/route`)
  t.equal(missing.status, 404)
  check(t, 'the 404 problem', missing.headers)
  t.equal(missing.headers.get('content-security-policy'), API_CSP)

  const badPath = await fetch(`${url}/api/event/%E0%A4%A`)
  t.equal(badPath.status, 400, 'a path that is not percent-encoded UTF-8 (answered before routing)')
  check(t, 'a problem from before routing', badPath.headers)
  t.equal(badPath.headers.get('content-security-policy'), API_CSP)
  t.ok(badPath.headers.get('x-request-id'), 'a problem from before routing: the request id too')

  for (const probe of ['/healthz', '/metrics']) check(t, probe, (await fetch(`${url}${probe}`)).headers)

  const sse = await readSse(t, `${url}/noti/users/alice/sub`)
  t.equal(sse.status, 200)
  check(t, 'SSE', sse.headers)
  t.equal(sse.headers.get('content-security-policy'), API_CSP)
  t.ok(sse.headers.get('x-request-id'), 'SSE: the request id too')
  sse.close()

  const console = await fetch(`${url}/console/`)
  t.equal(console.status, 200)
  check(t, 'the console', console.headers)
  t.match(console.headers.get('content-security-policy'), /script-src 'self' 'sha256-/, 'the console keeps its own policy')

  const docs = await fetch(`${url}/docs/static/index.html`)
  t.equal(docs.status, 200)
  check(t, '/docs', docs.headers)
  t.not(docs.headers.get('content-security-policy'), API_CSP, '/docs keeps swagger-ui\'s policy')
  t.match(docs.headers.get('content-security-policy'), /script-src 'self'/)
})

t.test('HSTS_MAX_AGE sends Strict-Transport-Security', async t => {
  const { url } = await startService(t, { env: { HSTS_MAX_AGE: '180d' }, listen: 0 })
  for (const path of ['/api/event/alice', '/healthz', '/no/such/route']) {
    t.equal((await fetch(`${url}${path}`)).headers.get('strict-transport-security'), `max-age=${180 * 86400}`, path)
  }
})
