// Meetings (seed 004) and, per meeting, the delivery record of every email it caused.

import { useMemo, useState } from 'preact/hooks'
import { html, Badge, Empty, ErrorBanner, Table, Time, absolute, debounce, useApi, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'

function Deliveries ({ meetingId, version }) {
  const { data, error, reload } = useApi(`/api/meetings/${encodeURIComponent(meetingId)}/notifications?v=${version}`)
  const now = useNow()
  if (error !== undefined) return html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  if (data === undefined) return html`<p class="boot">Loading deliveries…</p>`
  if (data.items.length === 0) return html`<${Empty}>No emails recorded yet.<//>`
  return html`<${Table} label="Deliveries" head=${['Recipient', 'Kind', 'Status', '#Attempts', 'Last error', 'Sent']}>
    ${data.items.map(n => html`<tr key=${n.notificationId}>
      <td>${n.recipient}</td>
      <td>${n.kind}</td>
      <td><${Badge} status=${n.status} /></td>
      <td class="num">${n.attempts}</td>
      <td class="desc">${n.lastError ?? html`<span class="muted">—</span>`}</td>
      <td><${Time} at=${n.sentAt} now=${now} /></td>
    </tr>`)}
  <//>`
}

export function Meetings ({ me }) {
  const { data, error, loading, reload } = useApi(me.admin ? '/api/admin/meetings?limit=100' : '/api/meetings?limit=100')
  const [open, setOpen] = useState(undefined)
  const [tick, setTick] = useState(0)
  const now = useNow()
  const refresh = useMemo(() => debounce(() => { reload(); setTick(n => n + 1) }, 300), [reload])
  const live = useLive({ types: 'meeting.*,notification.*', streams: ['MEETINGS', 'NOTIFY'] }, refresh)
  const state = liveLabel(live)
  const items = data?.items ?? []
  return html`
    <div class="toolbar">
      <span class="muted">${me.admin ? 'Everyone\'s latest meetings' : 'Meetings you organize or attend'}</span>
      <span class="live-state"><${Badge} status=${state.status} label=${state.label} /></span>
    </div>
    <${ErrorBanner} error=${error} onRetry=${reload} />
    ${data === undefined
      ? (loading ? html`<p class="boot">Loading…</p>` : null)
      : items.length === 0
        ? html`<${Empty}>No meetings yet. Schedule one with <code>POST /api/meetings</code>.<//>`
        : html`<ul class="rows">
          ${items.map(m => html`<li key=${m.id} class="row" data-meeting=${m.id}>
            <button class="row-head" aria-expanded=${open === m.id} onClick=${() => setOpen(o => o === m.id ? undefined : m.id)}>
              <span class="title">${m.title}</span>
              <${Badge} status=${m.status} />
              <span class="when" title=${absolute(m.startsAt)}>${absolute(m.startsAt)} (<${Time} at=${m.startsAt} now=${now} />)</span>
              <span class="sub">${m.organizer.email} · ${m.participants.length} participant${m.participants.length === 1 ? '' : 's'}${m.location === '' ? '' : ` · ${m.location}`}</span>
              ${m.deliveries === undefined
                ? null
                : html`<span class="counts">
                    <${Badge} status="sent" label=${`${m.deliveries.sent} sent`} />
                    ${m.deliveries.pending > 0 ? html`<${Badge} status="pending" label=${`${m.deliveries.pending} pending`} />` : null}
                    ${m.deliveries.failed > 0 ? html`<${Badge} status="failed" label=${`${m.deliveries.failed} failed`} />` : null}
                  </span>`}
            </button>
            ${open === m.id ? html`<div class="row-body"><${Deliveries} meetingId=${m.id} version=${`${m.version}.${tick}`} /></div>` : null}
          </li>`)}
        </ul>`}
  `
}
