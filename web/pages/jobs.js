// Jobs (seed 000): newest first with their status, updated live as statuses arrive.

import { useMemo, useState } from 'preact/hooks'
import { html, Badge, Empty, ErrorBanner, Table, Time, debounce, short, useApi, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'

const FILTERS = [['', 'All'], ['PENDING', 'Pending'], ['Y', 'Succeeded'], ['N', 'Failed']]
const LABEL = { PENDING: 'pending', Y: 'succeeded', N: 'failed' }

export function Jobs () {
  const [status, setStatus] = useState('')
  const { data, error, loading, reload } = useApi(`/api/jobs?limit=100${status === '' ? '' : `&status=${status}`}`)
  const now = useNow()
  const refresh = useMemo(() => debounce(reload, 250), [reload])
  const live = useLive({ types: 'job.*', streams: ['JOBS'] }, refresh)
  const state = liveLabel(live)
  return html`
    <div class="toolbar">
      <div class="tabs" role="tablist">
        ${FILTERS.map(([value, label]) => html`<button role="tab" aria-selected=${status === value} onClick=${() => setStatus(value)}>${label}</button>`)}
      </div>
      <span class="live-state"><${Badge} status=${state.status} label=${state.label} /></span>
    </div>
    <${ErrorBanner} error=${error} onRetry=${reload} />
    ${data === undefined
      ? (loading ? html`<p class="boot">Loading…</p>` : null)
      : data.items.length === 0
        ? html`<${Empty}>No jobs${status === '' ? '' : ` with status ${LABEL[status]}`} yet. Start one with <code>POST /noti/pub</code>.<//>`
        : html`<${Table} label="Jobs" head=${['Job', 'User', 'Type', 'Status', 'Description', 'Requested', 'Finished', 'Deadline']}>
          ${data.items.map(j => html`<tr key=${j.eventId} data-job=${j.eventId}>
            <td><code title=${j.eventId}>${short(j.eventId)}</code></td>
            <td>${j.userId}</td>
            <td>${j.eventType}</td>
            <td><${Badge} status=${LABEL[j.status]} /></td>
            <td class="desc">${j.eventDesc === '' ? html`<span class="muted">—</span>` : j.eventDesc}</td>
            <td><${Time} at=${j.requestedAt} now=${now} /></td>
            <td><${Time} at=${j.completedAt} now=${now} /></td>
            <td>${j.status === 'PENDING' ? html`<${Time} at=${j.deadline} now=${now} />` : html`<span class="muted">—</span>`}</td>
          </tr>`)}
        <//>`}
  `
}
