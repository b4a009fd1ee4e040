// Live updates for a page: the tail (GET /api/tail) filtered to the events that change what the
// page shows. Every page that shows live data opens one; the hook closes it with the page.

import { useEffect, useRef, useState } from 'preact/hooks'
import { openStream } from './api.js'

/**
 * Calls onEvent for each tail event matching `types` (e.g. 'job.*') on `streams` (and, given a
 * `user`, only that user's); returns the connection state ('connecting' | 'live' | 'error') and
 * the error text if any.
 */
export function useLive ({ types, streams, history = 0, user }, onEvent) {
  const [state, setState] = useState({ status: 'connecting', detail: undefined })
  const handler = useRef(onEvent)
  handler.current = onEvent
  useEffect(() => {
    const q = new URLSearchParams()
    if (types !== undefined && types !== '') q.set('types', types)
    if (streams !== undefined && streams.length > 0) q.set('streams', streams.join(','))
    if (history > 0) q.set('history', String(history))
    if (user !== undefined && user !== '') q.set('user', user)
    return openStream(`/api/tail?${q}`, {
      onEvent: ev => {
        if (ev.event === 'position' || ev.event === 'gap') return
        let data
        try {
          data = JSON.parse(ev.data)
        } catch {
          return
        }
        handler.current(data, ev)
      },
      onState: (status, detail) => setState({ status, detail })
    })
  }, [types, streams?.join(','), history, user])
  return state
}

/** A small "● live" indicator for a page's live connection. */
export function liveLabel ({ status, detail }) {
  if (status === 'live') return { status: 'live', label: '● live' }
  if (status === 'connecting') return { status: 'connecting', label: 'connecting…' }
  return { status: 'error', label: `offline${detail === undefined ? '' : `: ${detail}`}` }
}
