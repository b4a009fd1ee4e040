// The collector's events (seed 002, and the analytics SDKs' /v1 routes): look a user up with
// the seed's search (event name, from, to; oldest first, page by page with its cursor), open an
// event to see every field, and follow the user's new events live (the tail, narrowed to the
// user). An admin also sees the events collected per minute over the last hour.

import { useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { html, Badge, Empty, ErrorBanner, Json, Table, Time, count, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'
import { CollectedChart } from './activity.js'

const LIMITS = [25, 100, 500]
const KEEP_LIVE = 200
/** The fields an event has, in the order the detail shows them. */
const FIELDS = ['event_id', 'event', 'user_id', 'event_datetime', 'received_at', 'anonymous_id', 'parameters', 'context', 'integrations', 'sdk']

/** A datetime-local input's value (local time) as ISO 8601, or undefined. */
function isoOf (local) {
  if (local === '') return undefined
  const ms = Date.parse(local)
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString()
}

/** The search's URL: /api/event/{user} with the filters and the page's cursor. */
function searchPath ({ user, event, from, to, limit }, cursor) {
  const q = new URLSearchParams({ limit: String(limit) })
  if (event !== '') q.set('event', event)
  if (isoOf(from) !== undefined) q.set('from', isoOf(from))
  if (isoOf(to) !== undefined) q.set('to', isoOf(to))
  if (cursor !== undefined) q.set('cursor', cursor)
  return `/api/event/${encodeURIComponent(user)}?${q}`
}

const preview = value => {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}

/** Every field of one event, as the search (or the tail) gives it. */
function Detail ({ item }) {
  const keys = [...FIELDS.filter(k => k in item), ...Object.keys(item).filter(k => !FIELDS.includes(k))]
  return html`<dl class="fields">
    ${keys.map(k => html`<div key=${k} data-field=${k}>
      <dt>${k}</dt>
      <dd>${item[k] !== null && typeof item[k] === 'object' ? html`<${Json} value=${item[k]} />` : item[k] === null ? html`<span class="muted">null</span>` : html`<code>${String(item[k])}</code>`}</dd>
    </div>`)}
  </dl>`
}

/** Events as rows; a row opens to its every field. `key` tells rows apart across pages and the tail. */
function EventTable ({ items, label, keyOf, now }) {
  const [open, setOpen] = useState(undefined)
  return html`<${Table} label=${label} head=${['Time', 'Event', '~Event id', 'Parameters']}>
    ${items.map(item => {
      const key = keyOf(item)
      const isOpen = open === key
      return [
        html`<tr key=${key} data-event-id=${item.event_id} class=${isOpen ? 'open' : ''}>
          <td class="when"><${Time} at=${item.event_datetime} now=${now} /><div class="sub mono">${item.event_datetime}</div></td>
          <td><button class="link event-name" aria-expanded=${isOpen} onClick=${() => setOpen(isOpen ? undefined : key)}>${item.event}</button></td>
          <td class="wide"><code>${item.event_id}</code></td>
          <td class="desc mono">${preview(item.parameters)}</td>
        </tr>`,
        isOpen ? html`<tr key=${`${key}-detail`} class="detail"><td colspan="4"><${Detail} item=${item} /></td></tr>` : null
      ]
    })}
  <//>`
}

/** The user's new events as they are collected (the tail, narrowed to the user). */
function Following ({ user, now }) {
  const [items, setItems] = useState([])
  const live = useLive({ types: 'collect.event.received', streams: ['COLLECT'], user }, ev => {
    const item = ev.data ?? { event: '(more than 4 KiB: cut)', event_id: String(ev.seq), preview: ev.preview }
    setItems(list => [{ ...item, seq: ev.seq }, ...list].slice(0, KEEP_LIVE))
  })
  const state = liveLabel(live)
  return html`<section class="following" aria-live="polite">
    <div class="toolbar">
      <h2>New events of ${user}</h2>
      <span class="live-state"><${Badge} status=${state.status} label=${state.label} /></span>
    </div>
    ${items.length === 0
      ? html`<${Empty}>Waiting for ${user}'s next event…<//>`
      : html`<${EventTable} items=${items} label="New events" keyOf=${i => `live-${i.seq}`} now=${now} />`}
  </section>`
}

export function Events ({ me }) {
  const own = me.admin ? '' : (me.userId ?? '')
  const [form, setForm] = useState({ user: own, event: '', from: '', to: '', limit: 100 })
  const [query, setQuery] = useState(undefined)
  // cursors of the pages before this one (the first page has none), and this page's
  const [pages, setPages] = useState([])
  const [result, setResult] = useState(undefined)
  const [error, setError] = useState(undefined)
  const [loading, setLoading] = useState(false)
  const [following, setFollowing] = useState(false)
  const now = useNow()

  const load = async (q, cursor, before) => {
    setLoading(true)
    try {
      const page = await api(searchPath(q, cursor))
      setResult({ ...page, cursor })
      setPages(before)
      setError(undefined)
    } catch (err) {
      setError(err)
    } finally {
      setLoading(false)
    }
  }
  const submit = e => {
    e.preventDefault()
    const q = { ...form, user: form.user.trim(), event: form.event.trim() }
    if (q.user === '') return
    if (query?.user !== q.user) setFollowing(false)
    setQuery(q)
    load(q, undefined, [])
  }
  const field = name => e => setForm(f => ({ ...f, [name]: e.target.value }))
  const pageNo = pages.length + 1

  return html`
    ${me.admin ? html`<${CollectedChart} />` : null}
    <form class="lookup" onSubmit=${submit} aria-label="Look up a user's events">
      <label>User <input name="user" required placeholder="user_id (or anonymousId)" value=${form.user} onInput=${field('user')} autocomplete="off" /></label>
      <label>Event <input name="event" placeholder="any" value=${form.event} onInput=${field('event')} /></label>
      <label>From <input name="from" type="datetime-local" step="1" value=${form.from} onInput=${field('from')} /></label>
      <label>To <input name="to" type="datetime-local" step="1" value=${form.to} onInput=${field('to')} /></label>
      <label>Per page <select name="limit" value=${form.limit} onChange=${e => setForm(f => ({ ...f, limit: Number(e.target.value) }))}>
        ${LIMITS.map(n => html`<option value=${n}>${n}</option>`)}
      </select></label>
      <button type="submit" class="primary">Search</button>
    </form>
    <${ErrorBanner} error=${error} onRetry=${query === undefined ? undefined : () => load(query, result?.cursor, pages)} />
    ${query === undefined
      ? html`<${Empty}>Look a user up by their <code>user_id</code> (an SDK's <code>userId</code>, else its <code>anonymousId</code>).<//>`
      : html`
        <div class="toolbar">
          <h2 class="results-title">${query.user}${query.event === '' ? '' : html` · <code>${query.event}</code>`} <span class="muted">page ${pageNo}, oldest first</span></h2>
          <button aria-pressed=${following} onClick=${() => setFollowing(f => !f)}>${following ? 'Stop following' : 'Follow live'}</button>
        </div>
        ${following ? html`<${Following} user=${query.user} now=${now} />` : null}
        ${result === undefined
          ? (loading ? html`<p class="boot">Loading…</p>` : null)
          : result.items.length === 0
            ? html`<${Empty}>${pageNo === 1 ? `No events of ${query.user}${query.event === '' ? '' : ` named ${query.event}`} in that time.` : 'No more events.'}<//>`
            : html`<${EventTable} items=${result.items} label="Events" keyOf=${i => `${i.user_id}/${i.event_id}`} now=${now} />`}
        <div class="pager">
          <button disabled=${pages.length === 0 || loading} onClick=${() => load(query, pages.at(-1) ?? undefined, pages.slice(0, -1))}>← Previous page</button>
          <span class="muted">${result === undefined ? '' : `${count(result.items.length)} event${result.items.length === 1 ? '' : 's'} on page ${pageNo}`}</span>
          <button disabled=${result?.next_cursor == null || loading} onClick=${() => load(query, result.next_cursor, [...pages, result.cursor ?? null])}>Next page →</button>
        </div>`}
  `
}
