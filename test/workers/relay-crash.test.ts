import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { ServerResponse } from 'node:http'
import { natsServer } from '../fixtures/nats.js'
import { freePort, spawnServer, waitFor200 } from '../fixtures/process.js'
import { httpTarget, type Received } from '../fixtures/http-target.js'
import { until as untilIn } from '../fixtures/wait.js'

// a restarted service needs longer than the default 20 s on a loaded machine
const until = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> => await untilIn(what, probe, 40_000)

// kill -9 while an /async delivery is in flight: once the service is back the request is
// delivered, and a request whose delivery and callback were acknowledged before the crash
// gets no second callback. The delivery that was cut off is made again with the same
// idempotency-key, so a target that dedupes sees one request.

async function killed (child: ChildProcess): Promise<void> {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

t.test('kill -9 during an async delivery: delivered once back, no duplicate callback for an acknowledged one', async t => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  let hold = true
  const held: ServerResponse[] = []
  const target = await httpTarget(t, (req, res) => {
    if (req.url === '/slow' && hold) {
      held.push(res)
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end('{"ok":true}')
  })
  const callback = await httpTarget(t)
  const natsUrl = await natsServer(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-crash-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const port = await freePort()
  const env = { NATS_URL: natsUrl, DATA_DIR: dataDir, PORT: String(port), RELAY_ALLOW: '127.0.0.0/8', WEBHOOK_SECRET: secret, TIMER_TICK: '50ms', LOG_LEVEL: 'error' }
  const base = `http://127.0.0.1:${port}`
  const send = async (targetAPI: string): Promise<string> => {
    const res = await fetch(`${base}/async`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ targetURL: target.origin, targetAPI, headers: {}, body: { callback_uri: `${callback.origin}/cb` } })
    })
    t.equal(res.status, 202)
    return (await res.json() as { requestId: string }).requestId
  }
  const callbacksFor = (id: string): Received[] => callback.received.filter(r => r.headers['jetway-request-id'] === id)

  let server = spawnServer(t, env)
  await waitFor200(`${base}/healthz`)
  const done = await send('/fast')
  await until('the first callback', () => callbacksFor(done).length === 1 ? true : undefined)
  const inFlight = await send('/slow')
  await until('the delivery in flight', () => held.length === 1 ? true : undefined)

  await killed(server)
  hold = false
  server = spawnServer(t, env)
  await waitFor200(`${base}/healthz`)

  await until('the interrupted delivery, made again', () => callbacksFor(inFlight).length === 1 ? true : undefined)
  const status = await until('its status', async () => {
    const res = await fetch(`${base}/async/${inFlight}`)
    const body = res.status === 200 ? await res.json() as { status: string, callback: { status: string } } : undefined
    return body?.callback.status === 'sent' ? body : undefined
  })
  t.match(status, { status: 'delivered', callback: { status: 'sent' } })
  const calls = target.received.filter(r => r.url === '/slow')
  t.equal(calls.length, 2, 'the cut-off call and the one after the restart')
  t.equal(calls[0]!.headers['idempotency-key'], calls[1]!.headers['idempotency-key'], 'with the same idempotency-key')
  t.equal(callbacksFor(inFlight).length, 1, 'one callback for it')
  t.equal(callbacksFor(done).length, 1, 'no second callback for the delivery acknowledged before the crash')
  t.equal(target.received.filter(r => r.url === '/fast').length, 1)
  await killed(server)
})
