import t from 'tap'
import { connect } from 'node:net'
import { startService } from '../fixtures/service.js'

// A request that never finishes arriving (a Content-Length larger than what is sent, a chunk
// that never ends, headers that never end) held its socket for ever: it is answered 408 and
// closed once REQUEST_TIMEOUT has passed. A long SSE response is not a long request: its
// request arrived at once, and it streams on.

/** Sends `text`, then nothing more; resolves with what came back once the server closed. */
async function stalled (port: number, text: string): Promise<string> {
  return await new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.setEncoding('latin1')
    socket.on('data', (data: string) => { answer += data })
    socket.on('error', () => {})
    socket.on('close', () => { resolve(answer) })
    socket.write(text)
  })
}

t.test('a request that never finishes arriving is answered 408 with a problem body and closed', async t => {
  const { url } = await startService(t, { listen: 0, env: { REQUEST_TIMEOUT: '1s' } })
  const port = Number(new URL(url).port)
  const head = 'POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
  const cases: [string, string][] = [
    ['a Content-Length larger than the body sent', `${head}Content-Length: 100\r\n\r\n{"event_id":`],
    ['a chunk that never ends', `${head}Transfer-Encoding: chunked\r\n\r\n40\r\n{"event_id":`],
    ['headers that never end', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1']
  ]
  const answers = await Promise.all(cases.map(async ([, text]) => await stalled(port, text)))
  for (const [i, [what]] of cases.entries()) {
    const answer = answers[i]!
    t.match(answer, /^HTTP\/1\.1 408 /, `${what}: 408`)
    t.match(answer, /content-type: application\/problem\+json/i, `${what}: a problem body`)
    t.match(answer, /"status":408/, `${what}: its status in the body`)
  }
})

t.test('an SSE response streams on past REQUEST_TIMEOUT', async t => {
  const { url } = await startService(t, { listen: 0, env: { REQUEST_TIMEOUT: '1s', SSE_HEARTBEAT: '200ms' } })
  const abort = new AbortController()
  t.teardown(() => { abort.abort() })
  const res = await fetch(`${url}/noti/users/u1/sub`, { headers: { accept: 'text/event-stream' }, signal: abort.signal })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const readUntil = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      const { value, done: ended } = await reader.read()
      if (ended) throw new Error(`the stream ended after: ${text.slice(-200)}`)
      text += decoder.decode(value, { stream: true })
    }
  }
  // 15 heartbeats of 200 ms: three REQUEST_TIMEOUTs on the same response
  const heartbeats = (): number => text.split(': heartbeat\n\n').length - 1
  await readUntil(() => heartbeats() >= 15)
  const job = await fetch(`${url}/noti/pub`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ eventType: 'TEST', userId: 'u1' }) })
  t.equal(job.status, 200)
  const { eventId } = await job.json() as { eventId: string }
  const done = await fetch(`${url}/noti/complete/${eventId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ eventStatus: 'Y' }) })
  t.equal(done.status, 200)
  await readUntil(() => text.includes(eventId))
  t.pass(`${heartbeats()} heartbeats, then the job's event, on one response`)
})
