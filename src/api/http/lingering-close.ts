import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

// An answer given before its request's body was read (a 413 on the declared Content-Length,
// a 401 or 415 before any parsing) ends the connection: the rest of the body is not worth
// reading. Closed at once while the client still sends, the kernel answers the unread bytes with
// a reset, and the client sees EPIPE or ECONNRESET in place of the answer. So the connection is
// closed as Apache and nginx do (a lingering close): the answer, then the FIN, then what the
// client still sends is read and discarded, up to LINGER_BYTES or LINGER_MS, then the socket
// is closed. Without the Connection: close, Node would read the rest of the body however long.

/** What an early answer's connection reads and discards after it, at most. */
export const LINGER_BYTES = 16 * 1024 * 1024
/** How long it waits for the rest of the body, at most. */
export const LINGER_MS = 5_000

export function lingerOnEarlyAnswers (app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const raw = request.raw
    // (inject()'s request has no `complete`: no socket to linger on)
    if (raw.complete === false && ('content-length' in raw.headers || 'transfer-encoding' in raw.headers)) {
      reply.header('connection', 'close')
      lingerAfterAnswer(raw)
    }
    return payload
  })
}

/**
 * Node ends a `Connection: close` answer with `socket.destroySoon()` (end, then destroy once the
 * answer is flushed): for this socket, that destroy waits for the end of the body, within bounds.
 */
function lingerAfterAnswer (request: IncomingMessage): void {
  const socket = request.socket as Socket & { destroySoon?: () => void }
  socket.destroySoon = function lingeringClose (this: Socket) {
    if (this.writable) this.end()
    let discarded = 0
    const close = (): void => {
      clearTimeout(timer)
      request.off('data', count)
      if (this.writableFinished) this.destroy()
      else this.once('finish', () => this.destroy())
    }
    const count = (chunk: Buffer): void => {
      discarded += chunk.length
      if (discarded > LINGER_BYTES) close()
    }
    const timer = setTimeout(close, LINGER_MS)
    this.once('close', () => clearTimeout(timer))
    if (request.complete) { close(); return }
    request.on('data', count)
    request.once('end', close)
    request.resume()
  }
}
