import t from 'tap'
import { connect } from 'node:net'
import { startService, countOn } from '../fixtures/service.js'
import { LINGER_BYTES } from '../../src/api/http/lingering-close.js'

// A body over a route's limit is answered 413 before it is read. The server then closes the
// connection; closed at once, with the client still sending, the unread bytes make the kernel
// answer with a reset, and the client sees EPIPE or ECONNRESET instead of the 413. The server
// reads and discards a bounded amount of such a body first (a lingering close).

const TWO_MB = 2 * 1024 * 1024
const event = (blob: string) => JSON.stringify({ event_id: 'big', event: 'view', user_id: 'u1', parameters: { blob } })

t.test('Node fetch reads the 413 of a 2 MB body, sent at once or streamed slowly', async t => {
  const { url, runtime } = await startService(t, { listen: 0 })
  const body = event('x'.repeat(TWO_MB))
  for (let i = 0; i < 8; i++) {
    const r = await fetch(`${url}/api/collect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    t.equal(r.status, 413, `at once, attempt ${i + 1}: 413`)
    t.match(await r.json(), { status: 413, is_success: false })
  }
  const bytes = Buffer.from(body)
  for (let i = 0; i < 4; i++) {
    let sent = 0
    // a stream of 64 KB pieces, a macrotask apart, with its length declared
    const stream = new ReadableStream<Uint8Array>({
      async pull (controller) {
        await new Promise(resolve => setTimeout(resolve, 1))
        if (sent >= bytes.length) { controller.close(); return }
        controller.enqueue(bytes.subarray(sent, sent + 64 * 1024))
        sent += 64 * 1024
      }
    })
    const r = await fetch(`${url}/api/collect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) },
      body: stream,
      duplex: 'half'
    } as RequestInit).catch((err: Error & { cause?: { code?: string } }) => err)
    t.equal(r instanceof Error ? `${r.message} (${r.cause?.code ?? ''})` : r.status, 413, `streamed, attempt ${i + 1}: 413`)
  }
  t.equal(await countOn(runtime, 'COLLECT', '>'), 0, 'nothing stored')
})

/** Writes the request in `chunk`-byte pieces, a macrotask apart; resolves with what was read and any error. */
async function slowRequest (port: number, head: string, body: Buffer, chunk: number): Promise<{ written: number, answer: string, error?: string }> {
  return await new Promise(resolve => {
    // half-open, as curl: a server's FIN does not stop the client sending the rest
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    let answer = ''
    let written = 0
    let error: string | undefined
    socket.setEncoding('latin1')
    socket.on('data', (data: string) => { answer += data })
    socket.on('end', () => { if (written >= body.length) socket.end() })
    socket.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code ?? err.message })
    socket.on('close', () => { resolve({ written, answer, error }) })
    socket.once('connect', () => {
      socket.write(head)
      const next = (): void => {
        if (socket.destroyed) return
        const piece = body.subarray(written, written + chunk)
        written += piece.length
        socket.write(piece)
        if (written < body.length) setTimeout(next, 1)
        else if (socket.readableEnded) socket.end()
      }
      next()
    })
  })
}

t.test('a raw client that writes a 2 MB body slowly, in chunks, reads the 413 (Content-Length and chunked)', async t => {
  const { url, runtime } = await startService(t, { listen: 0 })
  const port = Number(new URL(url).port)
  const body = Buffer.from(event('x'.repeat(TWO_MB)))
  for (let i = 0; i < 4; i++) {
    const r = await slowRequest(port, `POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body, 64 * 1024)
    t.equal(r.error, undefined, `Content-Length, attempt ${i + 1}: no write failed`)
    t.equal(r.written, body.length, 'the whole body was written')
    t.match(r.answer, /^HTTP\/1\.1 413 /, 'a 413')
    t.match(r.answer, /"status":413/, 'its problem body')
  }
  // chunked: the limit is found while reading; the rest of the body is discarded
  const chunked = Buffer.concat([...Array.from({ length: 32 }, () => Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`)), Buffer.from('0\r\n\r\n')])
  for (let i = 0; i < 4; i++) {
    const r = await slowRequest(port, 'POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', chunked, 64 * 1024)
    t.equal(r.error, undefined, `chunked, attempt ${i + 1}: no write failed`)
    t.match(r.answer, /^HTTP\/1\.1 413 /, 'a 413')
  }
  t.equal(await countOn(runtime, 'COLLECT', '>'), 0, 'nothing stored')
})

t.test('a body that never ends is discarded up to a bound, then the connection is closed', async t => {
  const { url } = await startService(t, { listen: 0 })
  const port = Number(new URL(url).port)
  const piece = Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`)
  const { written, answer } = await new Promise<{ written: number, answer: string }>(resolve => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    let answer = ''
    let written = 0
    socket.setEncoding('latin1')
    socket.on('data', (data: string) => { answer += data })
    socket.on('error', () => {})
    socket.on('close', () => { resolve({ written, answer }) })
    socket.write('POST /api/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
    const more = (): void => {
      while (!socket.destroyed && socket.write(piece)) written += piece.length
      if (!socket.destroyed) { written += piece.length; socket.once('drain', more) }
    }
    more()
  })
  t.match(answer, /^HTTP\/1\.1 413 /, 'the 413 first')
  t.ok(written < LINGER_BYTES + 64 * 1024 * 1024, `closed after ${written} bytes written, not read for ever`)
})
