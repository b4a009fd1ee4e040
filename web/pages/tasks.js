// Callback tasks (seed 003): those waiting for a decision first, with Approve and Reject. The
// console decides as the task's owner (or an admin) would: it completes the task with its task
// token (POST /api/tasks/success or /failure), recording who approved from the console.

import { useMemo, useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { html, Badge, Empty, ErrorBanner, Json, Time, debounce, useApi, useNow } from '../lib/ui.js'
import { useLive, liveLabel } from '../lib/live.js'

const FILTERS = [['WAITING', 'Waiting'], ['', 'All'], ['SUCCEEDED', 'Succeeded'], ['FAILED', 'Failed'], ['TIMED_OUT', 'Timed out']]

function Decide ({ task, me, onDone }) {
  const [comment, setComment] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(undefined)
  const who = me.userId ?? 'console'
  const decide = async approve => {
    setBusy(true)
    setError(undefined)
    try {
      if (approve) {
        await api('/api/tasks/success', { method: 'POST', body: { taskToken: task.taskToken, output: { approved: true, approver: who, comment: comment === '' ? null : comment, via: 'console' } } })
      } else {
        await api('/api/tasks/failure', { method: 'POST', body: { taskToken: task.taskToken, error: 'Rejected', cause: comment === '' ? `rejected by ${who} in the console` : comment } })
      }
      onDone()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const id = `comment-${task.taskId}`
  return html`<div class="decide">
    <${ErrorBanner} error=${error} />
    <label for=${id}>Comment (optional)</label>
    <input id=${id} value=${comment} maxLength="2000" onInput=${e => setComment(e.target.value)} />
    <div class="buttons">
      <button class="primary ok" disabled=${busy} onClick=${() => decide(true)}>Approve</button>
      <button class="primary bad" disabled=${busy} onClick=${() => decide(false)}>Reject</button>
    </div>
  </div>`
}

function outcome (t) {
  if (t.status === 'SUCCEEDED') return t.decidedBy?.approver !== undefined ? `approved by ${t.decidedBy.approver}` : 'succeeded'
  if (t.status === 'FAILED') return `${t.error ?? 'failed'}${t.cause === null ? '' : `: ${t.cause}`}`
  if (t.status === 'TIMED_OUT') return t.error ?? 'timed out'
  return ''
}

export function Tasks ({ me }) {
  const [status, setStatus] = useState('WAITING')
  const { data, error, loading, reload } = useApi(`/api/tasks?limit=100${status === '' ? '' : `&status=${status}`}`)
  const [open, setOpen] = useState(undefined)
  const now = useNow()
  const refresh = useMemo(() => debounce(reload, 250), [reload])
  const live = useLive({ types: 'task.*', streams: ['TASKS'] }, refresh)
  const state = liveLabel(live)
  const items = data?.items ?? []
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
      : items.length === 0
        ? html`<${Empty}>${status === 'WAITING' ? 'No task waits for a decision.' : 'No tasks.'} Create one with <code>POST /api/tasks</code>.<//>`
        : html`<ul class="rows">
          ${items.map(t => html`<li key=${t.taskId} class="row" data-task=${t.taskId} data-status=${t.status}>
            <div class="row-head static">
              <span class="title">${t.title}</span>
              <${Badge} status=${t.status} label=${t.status.toLowerCase().replace('_', ' ')} />
              <span class="sub">${t.type} · by ${t.owner}${t.approvers.length > 0 ? ` · approvers ${t.approvers.join(', ')}` : ''}</span>
              <span class="when">created <${Time} at=${t.createdAt} now=${now} />${t.status === 'WAITING' ? html` · deadline <${Time} at=${t.deadline} now=${now} />` : html` · decided <${Time} at=${t.decidedAt} now=${now} />`}</span>
              ${t.status === 'WAITING' ? null : html`<span class="outcome">${outcome(t)}</span>`}
            </div>
            <button class="link" aria-expanded=${open === t.taskId} onClick=${() => setOpen(o => o === t.taskId ? undefined : t.taskId)}>${open === t.taskId ? 'Hide input' : 'Show input'}</button>
            ${open === t.taskId ? html`<${Json} value=${t.status === 'SUCCEEDED' ? { input: t.input, output: t.output } : t.input} />` : null}
            ${t.status === 'WAITING' ? html`<${Decide} task=${t} me=${me} onDone=${reload} />` : null}
          </li>`)}
        </ul>`}
  `
}
