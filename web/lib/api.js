// Talking to Jetway's own HTTP API: JSON with the session's Bearer token (AUTH_MODE=jwt), errors
// read from application/problem+json, and SSE read over fetch, so the token travels in a header
// and never in a URL that a proxy or the access log would keep.

const TOKEN_KEY = 'jetway.token'

export const session = {
  get token () { return sessionStorage.getItem(TOKEN_KEY) ?? '' },
  set token (value) {
    if (value === '') sessionStorage.removeItem(TOKEN_KEY)
    else sessionStorage.setItem(TOKEN_KEY, value)
  }
}

/** An HTTP error with the problem body's detail and status. */
export class ApiError extends Error {
  constructor (status, problem) {
    super(problem?.detail ?? `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }
}

function headers (extra = {}) {
  const token = session.token
  return token === '' ? extra : { authorization: `Bearer ${token}`, ...extra }
}

async function problemOf (res) {
  try {
    return await res.json()
  } catch {
    return { detail: `${res.status} ${res.statusText}` }
  }
}

export async function api (path, { method = 'GET', body } = {}) {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (!res.ok) throw new ApiError(res.status, await problemOf(res))
  return res.status === 204 ? undefined : await res.json()
}

/**
 * Reads an SSE route over fetch, reconnecting with Last-Event-ID like an EventSource does.
 * onEvent({ id, event, data }); onState('connecting' | 'live' | 'error', detail). Gives up on a
 * 4xx other than 429 (a request that can never succeed). Returns the function that stops it.
 */
export function openStream (path, { onEvent, onState = () => {} }) {
  let lastId
  let stopped = false
  let controller
  let retryMs = 2000
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

  async function connect () {
    controller = new AbortController()
    onState('connecting')
    const res = await fetch(path, {
      headers: headers({ accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': lastId }) }),
      signal: controller.signal
    })
    if (!res.ok) {
      const problem = await problemOf(res)
      onState('error', problem.detail ?? `HTTP ${res.status}`)
      if (res.status >= 400 && res.status < 500 && res.status !== 429) stopped = true
      return
    }
    onState('live')
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    // what the server said in a comment (a stream it cannot serve now says why, then ends)
    let said
    for (;;) {
      const { value, done } = await reader.read()
      if (stopped) break
      if (done) {
        onState('error', said ?? 'the stream ended; reconnecting')
        break
      }
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      let cut
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        // a closed stream delivers nothing more, even from the chunk it was reading
        if (stopped) return
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        const ev = { id: undefined, event: 'message', data: [] }
        for (const line of block.split('\n')) {
          if (line.startsWith(':') && line !== ': heartbeat') said = line.slice(1).trim()
          if (line === '' || line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'id') ev.id = value
          else if (field === 'event') ev.event = value
          else if (field === 'data') ev.data.push(value)
          else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value)
        }
        if (ev.id !== undefined) lastId = ev.id
        if (ev.data.length > 0) onEvent({ id: ev.id, event: ev.event, data: ev.data.join('\n') })
      }
    }
  }

  ;(async () => {
    while (!stopped) {
      try {
        await connect()
      } catch (err) {
        if (stopped) return
        onState('error', err.message)
      }
      if (!stopped) await sleep(retryMs)
    }
  })()
  return () => {
    stopped = true
    controller?.abort()
  }
}
