// Small shared pieces of the console: the htm binding, formatting, and components every page
// uses (status badges, relative times, error and empty states, tables that scroll on a phone).

import { h } from 'preact'
import { useEffect, useState, useRef, useCallback } from 'preact/hooks'
import htm from 'htm'
import { api } from './api.js'

export const html = htm.bind(h)

const UNITS = [['y', 31536000], ['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]

/** "3m ago", "in 2h", "just now" */
export function relative (iso, now = Date.now()) {
  if (iso === null || iso === undefined || iso === '') return '—'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const diff = Math.round((t - now) / 1000)
  const abs = Math.abs(diff)
  if (abs < 5) return 'just now'
  const [unit, size] = UNITS.find(([, s]) => abs >= s)
  const n = Math.floor(abs / size)
  return diff < 0 ? `${n}${unit} ago` : `in ${n}${unit}`
}

export function absolute (iso) {
  if (iso === null || iso === undefined || iso === '') return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString()
}

export function bytes (n) {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export const count = n => Number(n).toLocaleString()

/** A ticking clock, so relative times stay current. */
export function useNow (everyMs = 5000) {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(timer)
  }, [everyMs])
  return now
}

export function Time ({ at, now }) {
  return html`<time datetime=${at ?? ''} title=${absolute(at)}>${relative(at, now)}</time>`
}

/** The colour of a status word: ok, warn, bad, info or neutral. */
export function tone (status) {
  const s = String(status).toLowerCase()
  if (/^(y|ok|sent|succeeded|delivered|approved|live|scheduled|connected|completed)$/.test(s) || /(succeeded|completed|sent|delivered)$/.test(s)) return 'ok'
  if (/^(n|failed|error|timed_out|rejected|cancelled|disconnected|dead)$/.test(s) || /(failed|timed_out|deadlettered|cancelled)$/.test(s)) return 'bad'
  if (/^(pending|waiting|connecting|deferred|rebuilding|retrying)$/.test(s) || /(deferred|requested)$/.test(s)) return 'warn'
  return 'neutral'
}

export function Badge ({ status, label }) {
  return html`<span class=${`badge ${tone(status)}`} data-status=${status}>${label ?? status}</span>`
}

export function ErrorBanner ({ error, onRetry }) {
  if (error === undefined || error === null) return null
  return html`<div class="banner bad" role="alert">
    <strong>${error.status === undefined ? 'Error' : `Error ${error.status}`}</strong> ${error.message}
    ${onRetry === undefined ? null : html` <button class="link" onClick=${onRetry}>Retry</button>`}
  </div>`
}

export function Empty ({ children }) {
  return html`<p class="empty">${children}</p>`
}

/**
 * `head`: column titles; a title starting with '#' is a number column (right-aligned), one
 * starting with '~' is left out on a phone (its cells carry class "wide").
 */
export function Table ({ head, children, label }) {
  const th = c => c.startsWith('#') ? html`<th class="num">${c.slice(1)}</th>` : c.startsWith('~') ? html`<th class="wide">${c.slice(1)}</th>` : html`<th>${c}</th>`
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">
    <table>
      <thead><tr>${head.map(th)}</tr></thead>
      <tbody>${children}</tbody>
    </table>
  </div>`
}

export function Json ({ value }) {
  return html`<pre class="json">${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}</pre>`
}

/** A tiny bar chart of a series (e.g. requests per second over a minute). */
export function Spark ({ values, label }) {
  const max = Math.max(1, ...values)
  const w = 2
  return html`<svg class="spark" viewBox=${`0 0 ${values.length * (w + 1)} 24`} preserveAspectRatio="none" role="img" aria-label=${label}>
    ${values.map((v, i) => html`<rect x=${i * (w + 1)} y=${24 - Math.max(v > 0 ? 1 : 0, (v / max) * 24)} width=${w} height=${Math.max(v > 0 ? 1 : 0, (v / max) * 24)} />`)}
  </svg>`
}

/**
 * Loads `path` now and again every `everyMs` (0: only when reload() is called). Keeps the last
 * good data while a reload fails, and says why it failed.
 */
export function useApi (path, everyMs = 0) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true })
  const current = useRef(path)
  current.current = path
  const reload = useCallback(async () => {
    try {
      const data = await api(path)
      if (current.current === path) setState({ data, error: undefined, loading: false })
    } catch (error) {
      if (current.current === path) setState(s => ({ data: s.data, error, loading: false }))
    }
  }, [path])
  useEffect(() => {
    setState(s => ({ ...s, loading: true }))
    reload()
    if (everyMs <= 0) return
    const timer = setInterval(reload, everyMs)
    return () => clearInterval(timer)
  }, [reload, everyMs])
  return { ...state, reload }
}

/** Calls fn at most once per `ms` (the last call wins), for reloads on bursts of live events. */
export function debounce (fn, ms) {
  let timer
  return (...args) => {
    clearTimeout(timer)
    timer = setTimeout(() => fn(...args), ms)
  }
}

export function short (id, n = 8) {
  return id.length > n + 1 ? `${id.slice(0, n)}…` : id
}
