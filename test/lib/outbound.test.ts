import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { LookupAddress } from 'node:dns'
import { Webhook } from 'standardwebhooks'
import {
  createOutbound, guardedConnector, guardedLookup, OutboundError, OutboundErrorCodes, type OutboundOptions
} from '../../src/lib/outbound.js'
import { classifyOutcome } from '../../src/domain/delivery.js'
import { addressPolicy } from '../../src/lib/ssrf.js'
import { signedHeaders } from '../../src/lib/webhooks.js'
import { loadConfig } from '../../src/config.js'
import { closedPort, httpTarget } from '../fixtures/http-target.js'

// Loopback only: every call here goes to a node:http server on 127.0.0.1, or is refused
// before any connection is made.

const LOOPBACK = ['127.0.0.0/8']

function client (t: Test, options: OutboundOptions = {}): ReturnType<typeof createOutbound> {
  const outbound = createOutbound(options)
  t.teardown(() => outbound.close())
  return outbound
}

async function failure (promise: Promise<unknown>): Promise<OutboundError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof OutboundError) return err
    throw err
  }
  throw new Error('expected the call to fail')
}

/** Whether the delivery decision (src/domain/delivery.ts) would try this call again. */
function worthRetry (err: OutboundError): boolean {
  return classifyOutcome({ kind: 'error', code: err.code, message: err.message }, 0, new Date()).kind === 'transient'
}

function secret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

t.test('a GET passes status, headers and body', async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.statusCode = 201
    res.setHeader('content-type', 'application/json')
    res.setHeader('x-repeated', ['a', 'b'])
    res.end('{"ok":true}')
  })
  const res = await client(t, { allow: LOOPBACK }).request({ method: 'GET', url: `${target.origin}/things?x=1` })
  t.equal(res.status, 201)
  t.equal(res.headers['content-type'], 'application/json')
  t.equal(res.headers['x-repeated'], 'a, b', 'repeated headers joined')
  t.equal(res.text(), '{"ok":true}')
  t.same(res.json(), { ok: true })
  t.ok(Buffer.isBuffer(res.body))
  t.equal(target.received[0]?.url, '/things?x=1')
  t.equal(target.received[0]?.headers['user-agent'], 'Jetway')
})

t.test('a POST sends the body; host, content-length and hop-by-hop headers from the caller are dropped', async t => {
  const target = await httpTarget(t)
  const res = await client(t, { allow: LOOPBACK }).request({
    method: 'post',
    url: `${target.origin}/in`,
    headers: {
      Host: 'evil.example',
      'Content-Length': '999',
      Connection: 'close, X-Named-By-Connection',
      'X-Named-By-Connection': 'gone',
      'Keep-Alive': 'timeout=5',
      TE: 'trailers',
      Trailer: 'x-sum',
      Upgrade: 'h2c',
      'Transfer-Encoding': 'chunked',
      'Proxy-Authorization': 'Basic eDp5',
      'Proxy-Connection': 'keep-alive',
      'Content-Type': 'application/json',
      'User-Agent': 'caller/1',
      'X-Many': ['1', '2'],
      'X-Undefined': undefined
    },
    body: '{"a":1}'
  })
  t.equal(res.status, 200)
  const seen = target.received[0]!
  t.equal(seen.method, 'POST')
  t.equal(seen.body.toString(), '{"a":1}')
  t.equal(seen.headers.host, `127.0.0.1:${target.port}`, 'host from the URL')
  t.equal(seen.headers['content-length'], '7', 'content-length recomputed')
  t.equal(seen.headers['content-type'], 'application/json')
  t.equal(seen.headers['user-agent'], 'caller/1', "the caller's user-agent is kept")
  t.equal(seen.headers['x-many'], '1, 2')
  for (const name of ['x-named-by-connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'transfer-encoding', 'proxy-authorization', 'proxy-connection', 'x-undefined']) {
    t.notOk(name in seen.headers, `${name} dropped`)
  }
  t.not(seen.headers.connection, 'close', "the caller's connection header is not sent")
})

t.test('hop-by-hop response headers are dropped from what is returned', async t => {
  const target = await httpTarget(t, (_req, res) => {
    res.setHeader('connection', 'keep-alive, x-hop')
    res.setHeader('x-hop', '1')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('proxy-authenticate', 'Basic')
    res.setHeader('x-end-to-end', 'kept')
    res.write('chunked ') // no content-length: transfer-encoding: chunked
    res.end('body')
  })
  const res = await client(t, { allow: LOOPBACK }).request({ method: 'GET', url: target.origin })
  t.equal(res.text(), 'chunked body')
  t.equal(res.headers['x-end-to-end'], 'kept')
  for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'proxy-authenticate', 'x-hop']) {
    t.notOk(name in res.headers, `${name} dropped`)
  }
})

t.test('one connection pool per origin: calls in a row reuse the connection', async t => {
  const target = await httpTarget(t)
  const outbound = client(t, { allow: LOOPBACK })
  for (let i = 0; i < 3; i++) {
    // undici frees the connection a tick after the body ends; a call in that same tick opens another
    await new Promise(resolve => setImmediate(resolve))
    await outbound.request({ method: 'GET', url: `${target.origin}/${i}` })
  }
  t.equal(target.received.length, 3)
  t.equal(target.connections(), 1)
})

t.test('a 3xx is the answer: redirects are not followed', async t => {
  const target = await httpTarget(t, (req, res) => {
    if (req.url === '/old') {
      res.writeHead(302, { location: '/new' })
      res.end()
    } else res.end('followed')
  })
  const res = await client(t, { allow: LOOPBACK }).request({ method: 'GET', url: `${target.origin}/old` })
  t.equal(res.status, 302)
  t.equal(res.headers.location, '/new')
  t.same(target.received.map(r => r.url), ['/old'])
})

t.test('a response body past the cap is an error', async t => {
  const target = await httpTarget(t, (req, res) => {
    const url = new URL(req.url, 'http://x')
    const body = Buffer.alloc(Number(url.searchParams.get('size')), 'x')
    if (url.searchParams.has('declared')) res.setHeader('content-length', body.length)
    // in pieces, so an undeclared length arrives chunked
    for (let i = 0; i < body.length; i += 256) res.write(body.subarray(i, i + 256))
    res.end()
  })
  const outbound = client(t, { allow: LOOPBACK, maxBodyBytes: 1024 })
  const atCap = await outbound.request({ method: 'GET', url: `${target.origin}/?size=1024` })
  t.equal(atCap.body.length, 1024, 'exactly the cap passes')
  for (const query of ['size=1025', 'size=4096&declared']) {
    const err = await failure(outbound.request({ method: 'GET', url: `${target.origin}/?${query}` }))
    t.equal(err.code, OutboundErrorCodes.tooLarge, query)
    t.equal(worthRetry(err), false)
    t.match(err.message, /larger than 1024 bytes/)
  }
})

t.test('a peer that does not answer in time is a timeout; a closed port is unreachable', async t => {
  const target = await httpTarget(t, (req, res) => {
    if (req.url === '/slow-body') res.write('part of it') // and never ends
    // '/hang': no answer at all
  })
  const outbound = client(t, { allow: LOOPBACK, timeoutMs: 30_000 })
  for (const path of ['/hang', '/slow-body']) {
    const err = await failure(outbound.request({ method: 'GET', url: `${target.origin}${path}`, timeoutMs: 200 }))
    t.equal(err.code, OutboundErrorCodes.timeout, `${path}: the per-call timeout`)
    t.equal(worthRetry(err), true)
    t.match(err.message, /within 200 ms/)
  }
  const short = client(t, { allow: LOOPBACK, timeoutMs: 150 })
  t.equal((await failure(short.request({ method: 'GET', url: `${target.origin}/hang` }))).code, OutboundErrorCodes.timeout, "the client's timeout")

  const port = await closedPort()
  const err = await failure(outbound.request({ method: 'GET', url: `http://127.0.0.1:${port}/` }))
  t.equal(err.code, OutboundErrorCodes.unreachable)
  t.equal(worthRetry(err), true)
  t.match(err.message, /ECONNREFUSED/)
})

t.test("the caller's signal aborts a call", async t => {
  const target = await httpTarget(t, () => {})
  const controller = new AbortController()
  const call = client(t, { allow: LOOPBACK }).request({ method: 'GET', url: target.origin, signal: controller.signal })
  setImmediate(() => controller.abort())
  const err = await failure(call)
  t.equal(err.code, OutboundErrorCodes.aborted)
})

t.test('with RELAY_ALLOW unset, private and loopback targets are refused and nothing connects', async t => {
  const target = await httpTarget(t)
  const outbound = client(t)
  const hosts = ['127.0.0.1', '10.0.0.1', '169.254.169.254', '[::ffff:127.0.0.1]', '[::1]', 'localhost', '2130706433', '0x7f.1', '[64:ff9b::7f00:1]']
  const urls = [
    ...hosts.map(host => `http://${host}:${target.port}/`),
    // over TLS the same guard runs (tls.connect takes the lookup hook too)
    `https://localhost:${target.port}/`, `https://127.0.0.1:${target.port}/`
  ]
  for (const url of urls) {
    const err = await failure(outbound.request({ method: 'GET', url }))
    t.equal(err.code, OutboundErrorCodes.refused, url)
    t.equal(worthRetry(err), false)
    t.match(err.message, /refused unless RELAY_ALLOW lists it/)
  }
  t.equal(target.connections(), 0, 'no connection reached the server')
  t.same(target.received, [])
})

t.test('a host name on RELAY_ALLOW may resolve to a private address; others may not', async t => {
  const target = await httpTarget(t)
  const dns: Record<string, LookupAddress[]> = {
    'internal.example': [{ address: '127.0.0.1', family: 4 }],
    'rebound.example': [{ address: '127.0.0.1', family: 4 }]
  }
  const resolve = async (host: string): Promise<LookupAddress[]> => {
    const found = dns[host]
    if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
    return found
  }
  const outbound = client(t, { allow: ['internal.example'], resolve })
  const res = await outbound.request({ method: 'GET', url: `http://internal.example:${target.port}/` })
  t.equal(res.status, 200)
  t.equal(target.received[0]?.headers.host, `internal.example:${target.port}`)

  const err = await failure(outbound.request({ method: 'GET', url: `http://rebound.example:${target.port}/` }))
  t.equal(err.code, OutboundErrorCodes.refused)
  t.match(err.message, /^rebound\.example: 127\.0\.0\.1 is a loopback address/)
  t.equal(target.connections(), 1, 'only the allowed call connected')

  const missing = await failure(outbound.request({ method: 'GET', url: `http://nowhere.example:${target.port}/` }))
  t.equal(missing.code, OutboundErrorCodes.unreachable)
  t.match(missing.message, /ENOTFOUND/)
})

t.test('the connector refuses a literal IP at connect time too', async t => {
  const target = await httpTarget(t)
  const connect = guardedConnector(addressPolicy())
  for (const hostname of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    const err = await new Promise<Error | null>(resolve => {
      connect({ hostname, host: `${hostname}:${target.port}`, protocol: 'http:', port: String(target.port) }, (err, socket) => {
        socket?.destroy()
        resolve(err)
      })
    })
    t.match(err, { code: OutboundErrorCodes.refused }, hostname)
  }
  t.equal(target.connections(), 0)

  const allowed = guardedConnector(addressPolicy(LOOPBACK))
  await new Promise<void>((resolve, reject) => {
    allowed({ hostname: '127.0.0.1', host: `127.0.0.1:${target.port}`, protocol: 'http:', port: String(target.port) }, (err, socket) => {
      if (err !== null) reject(err)
      socket?.destroy()
      resolve()
    })
  })
  t.pass('an allowed address connects')
})

t.test('the lookup hook checks every address a name resolves to', async t => {
  const answers: Record<string, LookupAddress[]> = {
    'mixed.example': [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.1', family: 4 }],
    'public.example': [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }]
  }
  const lookup = guardedLookup(addressPolicy(), async host => answers[host] ?? [])
  const call = async (host: string, options: object): Promise<{ err: NodeJS.ErrnoException | null, address: unknown, family?: number }> =>
    await new Promise(resolve => lookup(host, options, (err, address, family) => resolve({ err, address, family })))

  const mixed = await call('mixed.example', { all: true })
  t.type(mixed.err, OutboundError, 'one private address refuses the whole name')
  t.equal((mixed.err as OutboundError).code, OutboundErrorCodes.refused)
  t.match(mixed.err?.message, /10\.0\.0\.1 is a private address/)

  t.same((await call('public.example', { all: true })).address, answers['public.example'])
  t.same(await call('public.example', {}), { err: null, address: '93.184.216.34', family: 4 })
  t.same(await call('public.example', { family: 6 }), { err: null, address: '2606:2800:220:1::1', family: 6 })
  t.match((await call('none.example', {})).err, { code: 'ENOTFOUND' })
})

t.test('bad requests are invalid, not sent', async t => {
  const outbound = client(t, { allow: LOOPBACK })
  for (const url of ['/relative', 'ftp://127.0.0.1/x', 'http://user:pass@127.0.0.1/']) {
    const err = await failure(outbound.request({ method: 'GET', url }))
    t.equal(err.code, OutboundErrorCodes.invalid, url)
    t.equal(worthRetry(err), false)
  }
  const target = await httpTarget(t)
  const err = await failure(outbound.request({ method: 'GET', url: target.origin, headers: { 'x-bad': 'a\r\nb' } }))
  t.equal(err.code, OutboundErrorCodes.invalid, 'a header value with CRLF')
  t.equal((await failure(outbound.request({ method: 'GET', url: target.origin, webhook: { id: 'msg_1' } }))).code,
    OutboundErrorCodes.invalid, 'signing asked with no secret')
  t.equal((await failure(outbound.request({ method: 'GET', url: target.origin, webhook: { id: 'msg_1', secret: 'nope' } }))).code,
    OutboundErrorCodes.invalid, 'a secret that is not whsec_')
  t.same(target.received, [])
})

t.test('Standard Webhooks: the receiver verifies the signature with the standardwebhooks package', async t => {
  const key = secret()
  const target = await httpTarget(t)
  const outbound = client(t, { allow: LOOPBACK, webhookSecret: key })
  const body = JSON.stringify({ type: 'job.completed', data: { id: 'j1', text: 'héllo' } })
  for (let attempt = 0; attempt < 2; attempt++) {
    await outbound.request({ method: 'POST', url: target.origin, headers: { 'content-type': 'application/json' }, body, webhook: { id: 'msg_delivery_1' } })
  }
  for (const seen of target.received) {
    const headers = seen.headers as Record<string, string>
    t.equal(headers['webhook-id'], 'msg_delivery_1', 'the id is stable across retries')
    t.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/)
    t.same(new Webhook(key).verify(seen.body.toString(), headers), JSON.parse(body))
    t.same(new Webhook(key).verify(seen.body, headers), JSON.parse(body), 'also over the raw bytes')
    t.throws(() => new Webhook(secret()).verify(seen.body.toString(), headers), /No matching signature/, 'another key does not verify')
    t.throws(() => new Webhook(key).verify(`${body} `, headers), /No matching signature/, 'a changed body does not verify')
  }

  const perCall = secret()
  await outbound.request({ method: 'POST', url: target.origin, body: 'plain', webhook: { id: 'msg_2', secret: perCall } })
  const last = target.received.at(-1)!
  t.doesNotThrow(() => new Webhook(perCall).verify(last.body, last.headers as Record<string, string>, { jsonParse: false }), 'a per-call secret wins')
})

t.test('signedHeaders: the timestamp is the attempt time; the spec vector', async t => {
  const at = new Date('2021-02-25T15:02:10.900Z') // 1614265330
  t.same(signedHeaders('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', at, '{"test": 2432232314}'), {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
  })
  t.throws(() => signedHeaders('secret', 'msg_1', at, ''), TypeError)

  const target = await httpTarget(t)
  const outbound = client(t, { allow: LOOPBACK, webhookSecret: secret(), clock: { now: () => at } })
  await outbound.request({ method: 'POST', url: target.origin, body: '{}', webhook: { id: 'msg_3' } })
  t.equal(target.received[0]?.headers['webhook-timestamp'], '1614265330', 'from the injected clock')
})

t.test('config: RELAY_ALLOW, OUTBOUND_TIMEOUT, OUTBOUND_MAX_BODY, WEBHOOK_SECRET', async t => {
  t.same(loadConfig({}).outbound, { allow: [], timeoutMs: 30_000, maxBodyBytes: 10 * 1024 * 1024, webhookSecret: undefined })
  const key = secret()
  const c = loadConfig({ RELAY_ALLOW: '127.0.0.0/8, ::1/128,internal.example', OUTBOUND_TIMEOUT: '5s', OUTBOUND_MAX_BODY: '1024', WEBHOOK_SECRET: key })
  t.same(c.outbound, { allow: ['127.0.0.0/8', '::1/128', 'internal.example'], timeoutMs: 5000, maxBodyBytes: 1024, webhookSecret: key })

  t.throws(() => loadConfig({ RELAY_ALLOW: '10.0.0.0/40' }), { code: 'JETWAY_CONFIG', message: /RELAY_ALLOW=10\.0\.0\.0\/40: 10\.0\.0\.0\/40: not a CIDR/ })
  t.throws(() => loadConfig({ OUTBOUND_TIMEOUT: 'soon' }), /OUTBOUND_TIMEOUT=/)
  t.throws(() => loadConfig({ OUTBOUND_TIMEOUT: '0' }), /OUTBOUND_TIMEOUT=0: takes a duration .* from 1ms/)
  t.throws(() => loadConfig({ OUTBOUND_MAX_BODY: '0' }), /OUTBOUND_MAX_BODY=/)
  t.throws(() => loadConfig({ OUTBOUND_MAX_BODY: '10MB' }), /OUTBOUND_MAX_BODY=/)
  for (const bad of ['not-a-secret', 'whsec_', 'whsec_abc', 'whsec_!!!!', `whsec_${randomBytes(16).toString('base64')}`]) {
    const err = t.throws(() => loadConfig({ WEBHOOK_SECRET: bad }), { code: 'JETWAY_CONFIG', message: /WEBHOOK_SECRET=\(\d+ characters, not shown\): takes whsec_/ }) as unknown as Error
    const key = bad.replace(/^whsec_/, '')
    if (key !== '') t.notOk(err.message.includes(key), 'the message does not echo the secret')
  }
})
