// What is flowing: streams, the workers' consumers, the read models, dead letters and the
// request rate, from GET /api/admin/overview every few seconds; what is on disk and how fast it
// grows; and what an acknowledged write survives (the nats-server's fsync).

import { html, Badge, Empty, ErrorBanner, Spark, Table, Time, bytes, count, useApi, useNow } from '../lib/ui.js'
import { ActivityCharts } from './activity.js'

const REFRESH_MS = 3000

function Card ({ title, value, children, tone, href }) {
  const body = html`<div class="card-title">${title}</div><div class="card-value">${value}</div>${children}`
  return href === undefined
    ? html`<section class=${`card ${tone ?? ''}`}>${body}</section>`
    : html`<a class=${`card ${tone ?? ''}`} href=${href}>${body}</a>`
}

/** "+1.2 MiB/h", "+340/h", or "—" while the server has fewer than two samples. */
function perHour (growth, format) {
  if (growth.perHour === null) return html`<span class="muted" title="measured once the server has two samples 10 s apart">—</span>`
  const sign = growth.perHour < 0 ? '−' : '+'
  return html`<span title=${`over the last ${Math.round(growth.windowSeconds / 60)} min`}>${sign}${format(Math.round(Math.abs(growth.perHour)))}/h</span>`
}

const DURABILITY = {
  always: 'fsync always',
  interval: 'fsync every',
  external: 'external'
}

export function Overview () {
  const { data, error, loading, reload } = useApi('/api/admin/overview', REFRESH_MS)
  const now = useNow()
  if (data === undefined) return loading ? html`<p class="boot">Loading…</p>` : html`<${ErrorBanner} error=${error} onRetry=${reload} />`
  const { instance, streams, consumers, projections, deadLetters, requests, sse, timers, storage } = data
  const durability = instance.durability
  const streamBytes = storage.streams.reduce((n, s) => n + s.bytes, 0)
  const growthOf = new Map(storage.streams.map(s => [s.name, s]))
  const open = deadLetters.letters - deadLetters.replayed
  const lagging = projections.filter(p => p.lag > 0 || p.rebuilding)
  const backlog = consumers.reduce((n, c) => n + c.pending + c.ackPending, 0)
  return html`
    <${ErrorBanner} error=${error} onRetry=${reload} />
    <div class="cards">
      <${Card} title="NATS" value=${html`<${Badge} status=${instance.nats.connected ? 'connected' : 'disconnected'} />`}>
        <div class="card-note">${instance.nats.server} · nats-server ${instance.nats.version}</div>
      <//>
      <${Card} title="Requests / s (1 min)" value=${requests.average.toFixed(1)}>
        <${Spark} values=${requests.perSecond} label="requests per second over the last minute" />
        <div class="card-note">${count(requests.total)} since start${requests.errorsPerSecond.some(n => n > 0) ? html` · <span class="bad-text">${requests.errorsPerSecond.reduce((a, b) => a + b, 0)} 5xx</span>` : ''}</div>
      <//>
      <${Card} title="Worker backlog" value=${count(backlog)} tone=${backlog > 0 ? 'warn' : ''}>
        <div class="card-note">pending + unacknowledged, all consumers</div>
      <//>
      <${Card} title="Read models" value=${lagging.length === 0 ? 'current' : `${lagging.length} behind`} tone=${lagging.length === 0 ? 'ok' : 'warn'}>
        <div class="card-note">${projections.length} projections</div>
      <//>
      <${Card} title="Dead letters" value=${count(open)} tone=${open > 0 ? 'bad' : 'ok'} href="#/dlq">
        <div class="card-note">${count(deadLetters.letters)} in DLQ · ${count(deadLetters.replayed)} replayed</div>
      <//>
      <${Card} title="SSE connections" value=${count(sse.connections)}>
        <div class="card-note">${count(timers.pending)} timers armed</div>
      <//>
      <${Card} title="Durability" value=${html`<span data-durability=${durability.mode}>${durability.mode === 'interval' ? `${DURABILITY.interval} ${durability.syncInterval}` : DURABILITY[durability.mode]}</span>`} tone=${durability.mode === 'always' ? 'ok' : durability.mode === 'interval' ? 'warn' : ''}>
        <div class="card-note">${durability.note}</div>
      <//>
      <${Card} title="On disk" value=${bytes(streamBytes + (storage.readModel?.total ?? 0))}>
        <div class="card-note" data-disk="streams">streams ${bytes(streamBytes)}</div>
        <div class="card-note" data-disk="read-model">${storage.readModel === null
          ? 'read models: in PostgreSQL'
          : html`read models ${bytes(storage.readModel.total)} (WAL ${bytes(storage.readModel.wal)}) · ${perHour(storage.readModel.growth, bytes)}`}</div>
      <//>
    </div>

    <${ActivityCharts} />

    <h2>Streams</h2>
    ${streams.length === 0
      ? html`<${Empty}>No streams: NATS did not answer.<//>`
      : html`<${Table} label="Streams" head=${['Stream', '#Messages', '#Size', '#Growth', '#Last seq', 'Last message', '#Consumers', '~Holds']}>
        ${streams.map(s => html`<tr data-stream=${s.name}>
          <td><strong>${s.name}</strong><div class="sub">${s.subjects.join(' ')}</div></td>
          <td class="num">${count(s.messages)}</td>
          <td class="num">${bytes(s.bytes)}</td>
          <td class="num" data-growth=${s.name}>${growthOf.has(s.name)
            ? html`${perHour(growthOf.get(s.name).bytesGrowth, bytes)}<div class="sub">${perHour(growthOf.get(s.name).messagesGrowth, count)} msgs</div>`
            : ''}</td>
          <td class="num">${count(s.lastSeq)}</td>
          <td>${s.lastTime === null ? html`<span class="muted">empty</span>` : html`<${Time} at=${s.lastTime} now=${now} />`}</td>
          <td class="num">${s.consumers}</td>
          <td class="desc wide" title=${s.description}>${s.description.replace(/^Jetway:\s*/, '').split(/(?<!e\.g)\.\s/)[0]}</td>
        </tr>`)}
      <//>`}

    <h2>Consumers</h2>
    ${consumers.length === 0
      ? html`<${Empty}>No durable consumers: this instance runs no workers, or NATS did not answer.<//>`
      : html`<${Table} label="Consumers" head=${['Stream', 'Consumer', '#Pending', '#Ack pending', '#Redelivered', '#Waiting', '~Delivered / ack floor']}>
        ${consumers.map(c => html`<tr data-consumer=${c.name}>
          <td>${c.stream}</td>
          <td><strong>${c.name}</strong><div class="sub">${c.filter}</div></td>
          <td class="num"><span class=${c.pending > 0 ? 'warn-text' : ''}>${count(c.pending)}</span></td>
          <td class="num"><span class=${c.ackPending > 0 ? 'info-text' : ''}>${count(c.ackPending)}</span></td>
          <td class="num"><span class=${c.redelivered > 0 ? 'warn-text' : ''}>${count(c.redelivered)}</span></td>
          <td class="num">${c.waiting > 0 ? c.waiting : html`<span class="warn-text" title="no worker is pulling">0</span>`}</td>
          <td class="num wide">${count(c.deliveredSeq)} / ${count(c.ackFloorSeq)}</td>
        </tr>`)}
      <//>`}

    <h2>Read models</h2>
    <${Table} label="Read models" head=${['Projection', 'Stream', '#Applied seq', '#Lag', 'State']}>
      ${projections.map(p => html`<tr data-projection=${p.name}>
        <td><strong>${p.name}</strong></td>
        <td>${p.stream}</td>
        <td class="num">${count(p.appliedSeq)}</td>
        <td class="num">${p.lag < 0 ? '?' : html`<span class=${p.lag > 0 ? 'warn-text' : ''}>${count(p.lag)}</span>`}</td>
        <td>${p.rebuilding ? html`<${Badge} status="rebuilding" />` : p.lag === 0 ? html`<${Badge} status="ok" label="current" />` : html`<${Badge} status="pending" label="catching up" />`}</td>
      </tr>`)}
    <//>
    <p class="foot muted">Jetway ${instance.version} · roles ${instance.roles.join(', ')} · auth ${instance.authMode} · up since <${Time} at=${instance.startedAt} now=${now} /> · refreshes every ${REFRESH_MS / 1000} s</p>
  `
}
