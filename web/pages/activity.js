// The activity charts: events collected per minute over the last hour (the ten names collected
// most, the rest as "other"), and this instance's requests with their 4xx and 5xx, from
// GET /api/admin/activity (admin). The overview shows both, the Events page the first.

import { html, ErrorBanner, useApi } from '../lib/ui.js'
import { MinuteChart, OTHER, PALETTE } from '../lib/charts.js'

const REFRESH_MS = 10_000

export function collectedSeries ({ collected }) {
  const series = collected.series.map((s, i) => ({ name: s.event, counts: s.counts, total: s.total, color: PALETTE[i % PALETTE.length] }))
  if (collected.other.names > 0) series.push({ name: `${collected.other.names} other name${collected.other.names === 1 ? '' : 's'}`, counts: collected.other.counts, total: collected.other.total, color: OTHER })
  return series
}

export function requestSeries ({ requests }) {
  const ok = requests.total.map((n, i) => n - requests.clientErrors[i] - requests.serverErrors[i])
  return [
    { name: 'answered', counts: ok, color: '#2f6fde' },
    { name: '4xx', counts: requests.clientErrors, color: '#e0a100' },
    { name: '5xx', counts: requests.serverErrors, color: '#b42318' }
  ]
}

function Charts ({ show }) {
  const { data, error, reload } = useApi('/api/admin/activity', REFRESH_MS)
  if (data === undefined) return html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  return html`<div class="charts">
    ${show.includes('collected')
      ? html`<section class="chart-card" id="chart-collected">
          <h2>Events collected per minute</h2>
          <p class="sub">last hour, by event name (the ten collected most), every instance</p>
          <${MinuteChart} from=${data.from} series=${collectedSeries(data)} label="Events collected per minute" empty="No event collected in the last hour." />
        </section>`
      : null}
    ${show.includes('requests')
      ? html`<section class="chart-card" id="chart-requests">
          <h2>Requests per minute</h2>
          <p class="sub">last hour, this instance, with client (4xx) and server (5xx) errors</p>
          <${MinuteChart} from=${data.from} series=${requestSeries(data)} label="Requests per minute" empty="No request in the last hour." />
        </section>`
      : null}
  </div>`
}

/** Both charts, from one request (the overview). */
export function ActivityCharts () {
  return html`<${Charts} show=${['collected', 'requests']} />`
}

/** Events collected per minute only (the Events page). */
export function CollectedChart () {
  return html`<${Charts} show=${['collected']} />`
}
