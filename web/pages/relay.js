// The HTTP relay and broker (seed 001): the latest /sync and /async requests with their
// attempts and callbacks, and the triggers with their consumers and the deliveries that needed
// a retry or were dead-lettered. Updated live from the RELAY stream.

import { useMemo, useState } from 'preact/hooks'
import { html, Badge, Empty, ErrorBanner, Json, Table, Time, count, debounce, short, useApi, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'

const STATUS_TONE = { answered: 'ok', delivered: 'ok', pending: 'pending', failed: 'failed', 'dead-lettered': 'failed', retrying: 'pending' }

function RequestDetail ({ requestId }) {
  const { data, error, reload } = useApi(`/async/${encodeURIComponent(requestId)}`)
  if (error !== undefined) return html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  if (data === undefined) return html`<p class="boot">Loading…</p>`
  return html`
    ${data.attempts.length === 0
      ? html`<${Empty}>No attempt yet.<//>`
      : html`<${Table} label="Attempts" head=${['To', 'Round', '#Attempt', 'At', '#Status', 'Error', '#ms']}>
        ${data.attempts.map(a => html`<tr>
          <td>${a.to}</td><td class="num">${a.round}</td><td class="num">${a.attempt}</td>
          <td><${Time} at=${a.at} /></td>
          <td class="num">${a.status ?? html`<span class="muted">—</span>`}</td>
          <td class="desc">${a.error ?? a.code ?? html`<span class="muted">—</span>`}</td>
          <td class="num">${a.durationMs}</td>
        </tr>`)}
      <//>`}
    ${data.response === null ? null : html`<div class="sub">answer ${data.response.status}</div><${Json} value=${data.response.body} />`}
  `
}

function Requests ({ now, tick }) {
  const { data, error, loading, reload } = useApi(`/api/admin/relay/requests?limit=100&t=${tick}`)
  const [open, setOpen] = useState(undefined)
  if (data === undefined) return loading ? html`<p class="boot">Loading…</p>` : html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  if (data.items.length === 0) return html`<${Empty}>No relay requests yet. Try <code>POST /sync</code> or <code>POST /async</code>.<//>`
  return html`<ul class="rows">
    ${data.items.map(r => html`<li key=${r.requestId} class="row" data-request=${r.requestId}>
      <div class="row-head static">
        <span class="title"><code>${r.method}</code> ${r.url}</span>
        <${Badge} status=${STATUS_TONE[r.status] ?? r.status} label=${r.status} />
        <span class="badge neutral">${r.kind}</span>
        <span class="sub"><code title=${r.requestId}>${short(r.requestId, 12)}</code> · ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${r.responseStatus === null ? '' : ` · answer ${r.responseStatus}`}${r.callback === null ? '' : ` · callback ${r.callback.status} (${r.callback.attempts})`}${r.dlqSeq === null ? '' : ` · DLQ #${r.dlqSeq}`}</span>
        <span class="when">requested <${Time} at=${r.requestedAt} now=${now} />${r.nextAttemptAt === null ? '' : html` · next attempt <${Time} at=${r.nextAttemptAt} now=${now} />`}</span>
        ${r.error === null ? null : html`<span class="error-text">${r.error}</span>`}
      </div>
      ${r.kind === 'async'
        ? html`<button class="link" aria-expanded=${open === r.requestId} onClick=${() => setOpen(o => o === r.requestId ? undefined : r.requestId)}>${open === r.requestId ? 'Hide attempts' : 'Show attempts'}</button>`
        : null}
      ${open === r.requestId ? html`<div class="row-body"><${RequestDetail} requestId=${r.requestId} /></div>` : null}
    </li>`)}
  </ul>`
}

function Deliveries ({ now, tick }) {
  const { data, error, loading, reload } = useApi(`/api/admin/relay/deliveries?limit=100&t=${tick}`)
  if (data === undefined) return loading ? html`<p class="boot">Loading…</p>` : html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  return html`
    <h2>Triggers</h2>
    ${data.triggers.length === 0
      ? html`<${Empty}>No triggers. Create one with <code>POST /api/triggers</code>.<//>`
      : html`<${Table} label="Triggers" head=${['Trigger', 'Subscriber', '#Pending', '#Ack pending', '#Redelivered', '~Delivered seq']}>
        ${data.triggers.map(tr => html`<tr data-trigger=${tr.name}>
          <td><strong>${tr.name}</strong></td>
          <td class="desc">${tr.subscriber}</td>
          <td class="num">${tr.consumer === null ? '?' : html`<span class=${tr.consumer.pending > 0 ? 'warn-text' : ''}>${count(tr.consumer.pending)}</span>`}</td>
          <td class="num">${tr.consumer === null ? '?' : count(tr.consumer.ackPending)}</td>
          <td class="num">${tr.consumer === null ? '?' : count(tr.consumer.redelivered)}</td>
          <td class="num wide">${tr.consumer === null ? '?' : count(tr.consumer.deliveredSeq)}</td>
        </tr>`)}
      <//>`}
    <h2>Deliveries with retries</h2>
    <p class="muted">A delivery that succeeds at its first attempt records nothing; these needed a retry, or were dead-lettered (since <${Time} at=${data.since} now=${now} />).</p>
    ${data.items.length === 0
      ? html`<${Empty}>Every delivery succeeded at its first attempt.<//>`
      : html`<${Table} label="Deliveries" head=${['Trigger', 'Event', 'Status', '#Attempts', 'Last', '#Answer', 'Error']}>
        ${data.items.map(d => html`<tr data-delivery=${`${d.trigger}:${d.eventSeq}`}>
          <td>${d.trigger}</td>
          <td><code>${d.eventId}</code><div class="sub">RELAY:${d.eventSeq}</div></td>
          <td><${Badge} status=${STATUS_TONE[d.status]} label=${d.status === 'dead-lettered' ? `dead-lettered (${d.sink})` : d.status} /></td>
          <td class="num">${d.attempts}</td>
          <td><${Time} at=${d.lastAt} now=${now} />${d.nextAttemptAt === null ? '' : html`<div class="sub">next <${Time} at=${d.nextAttemptAt} now=${now} /></div>`}</td>
          <td class="num">${d.lastStatus ?? html`<span class="muted">—</span>`}</td>
          <td class="desc">${d.lastError ?? html`<span class="muted">—</span>`}</td>
        </tr>`)}
      <//>`}
  `
}

export function Relay () {
  const [tab, setTab] = useState('requests')
  const [tick, setTick] = useState(0)
  const now = useNow()
  const refresh = useMemo(() => debounce(() => setTick(n => n + 1), 300), [])
  const live = useLive({ types: 'relay.*', streams: ['RELAY'] }, refresh)
  const state = liveLabel(live)
  return html`
    <div class="toolbar">
      <div class="tabs" role="tablist">
        <button role="tab" aria-selected=${tab === 'requests'} onClick=${() => setTab('requests')}>Requests</button>
        <button role="tab" aria-selected=${tab === 'deliveries'} onClick=${() => setTab('deliveries')}>Triggers and deliveries</button>
      </div>
      <span class="live-state"><${Badge} status=${state.status} label=${state.label} /></span>
    </div>
    ${tab === 'requests' ? html`<${Requests} now=${now} tick=${tick} />` : html`<${Deliveries} now=${now} tick=${tick} />`}
  `
}
