// The live event tail: every stream (an admin) or the caller's own events (a user), as they
// are appended, newest on top; filter by stream and by type, pause, open an event's data.

import { useEffect, useState } from 'preact/hooks'
import { html, Badge, Empty, Json, Time, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'

const KEEP = 500
/** Streams left out until chosen: the instances' lease renewals say little and come often. */
const QUIET = ['LEASES']
const HISTORY = 50

function typeTone (type) {
  if (/(failed|timed_out|deadlettered|cancelled)$/.test(type)) return 'bad'
  if (/(succeeded|completed|sent|delivered|changed|answered|replayed)$/.test(type)) return 'ok'
  if (/(requested|deferred|scheduled|created)$/.test(type)) return 'warn'
  return 'neutral'
}

/** The type filter as the tail takes it: 'job.*, task.created' → 'job.*,task.created' */
function normalizeTypes (text) {
  return text.split(/[\s,]+/).filter(t => /^[A-Za-z0-9_.*-]+$/.test(t)).join(',')
}

export function Tail ({ me }) {
  const [events, setEvents] = useState([])
  const [typesText, setTypesText] = useState('')
  const [types, setTypes] = useState('')
  const [streams, setStreams] = useState(me.streams.filter(s => !QUIET.includes(s)))
  const [paused, setPaused] = useState(false)
  const [open, setOpen] = useState(undefined)
  const [search, setSearch] = useState('')
  const now = useNow(2000)

  const live = useLive({ types, streams, history: HISTORY }, ev => {
    if (paused) return
    setEvents(list => [ev, ...list].slice(0, KEEP))
  })
  // a new filter starts a new tail (with its own history)
  useEffect(() => { setEvents([]) }, [types, streams.join(',')])

  const toggle = name => setStreams(s => s.includes(name) ? s.filter(x => x !== name) : [...s, name].sort())
  const shown = search === '' ? events : events.filter(e => JSON.stringify(e).toLowerCase().includes(search.toLowerCase()))
  const state = liveLabel(live)
  const key = e => `${e.stream}:${e.seq}`

  return html`
    <div class="toolbar">
      <form class="filter" onSubmit=${e => { e.preventDefault(); setTypes(normalizeTypes(typesText)) }}>
        <label for="types">Types</label>
        <input id="types" placeholder="job.*, task.created" value=${typesText} onInput=${e => setTypesText(e.target.value)} />
        <button type="submit">Apply</button>
      </form>
      <input class="search" type="search" aria-label="Search the events shown" placeholder="Search shown events" value=${search} onInput=${e => setSearch(e.target.value)} />
      <button onClick=${() => setPaused(p => !p)} aria-pressed=${paused}>${paused ? 'Resume' : 'Pause'}</button>
      <button onClick=${() => setEvents([])}>Clear</button>
      <span class="live-state"><${Badge} status=${state.status} label=${state.label} /></span>
    </div>
    <div class="chips" role="group" aria-label="Streams">
      ${me.streams.map(s => html`<label class=${`chip ${streams.includes(s) ? 'on' : ''}`}>
        <input type="checkbox" checked=${streams.includes(s)} onChange=${() => toggle(s)} /> ${s}
      </label>`)}
    </div>
    ${me.admin ? null : html`<p class="muted">Your own events: those you caused or whose data names you.</p>`}
    ${streams.length === 0
      ? html`<${Empty}>No stream chosen.<//>`
      : shown.length === 0
        ? html`<${Empty}>${paused ? 'Paused.' : `Waiting for events${types === '' ? '' : ` of type ${types}`}…`}<//>`
        : html`<ol class="events" aria-live="polite">
          ${shown.map(e => html`<li key=${key(e)} class="event" data-type=${e.type} data-stream=${e.stream}>
            <button class="event-head" aria-expanded=${open === key(e)} onClick=${() => setOpen(o => o === key(e) ? undefined : key(e))}>
              <span class="stream">${e.stream}</span>
              <span class=${`type ${typeTone(e.type)}`}>${e.type === '' ? '(not an event)' : e.type}</span>
              <span class="subject">${e.subject}</span>
              <span class="when"><${Time} at=${e.time} now=${now} /></span>
            </button>
            ${open === key(e)
              ? html`<div class="event-body">
                  <div class="sub">seq ${e.seq}${e.actor === undefined ? '' : ` · by ${e.actor}`}${e.truncated ? ' · data cut at 4 KiB' : ''}</div>
                  <${Json} value=${e.truncated || e.data === undefined ? e.preview : e.data} />
                </div>`
              : null}
          </li>`)}
        </ol>`}
  `
}
