// Dead letters: messages a worker gave up on, newest first, with the error and the original
// body; Replay puts one back on its subject (as `npm run dlq -- replay <seq>` does).

import { useMemo, useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { html, Badge, Empty, ErrorBanner, Json, Time, debounce, useApi, useNow } from '../lib/ui.js'
import { useLive } from '../lib/live.js'

function Letter ({ letter, now, onReplayed }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(undefined)
  const [result, setResult] = useState(undefined)
  const [open, setOpen] = useState(false)
  const replay = async () => {
    if (!confirm(`Put dead letter ${letter.dlqSeq} back on ${letter.subject}?`)) return
    setBusy(true)
    setError(undefined)
    try {
      setResult(await api(`/api/admin/dlq/${letter.dlqSeq}/replay`, { method: 'POST' }))
      onReplayed()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const replayed = letter.replayedAs ?? result?.seq
  return html`<li class="row" data-dlq=${letter.dlqSeq}>
    <div class="row-head static">
      <span class="title">#${letter.dlqSeq} ${letter.type === '' ? letter.subject : letter.type}</span>
      ${replayed === undefined ? html`<${Badge} status="failed" label="dead" />` : html`<${Badge} status="ok" label=${`replayed as ${letter.stream}:${replayed}`} />`}
      <span class="sub">${letter.stream} / ${letter.consumer} · seq ${letter.seq} · ${letter.subject} · ${letter.deliveries} deliver${letter.deliveries === 1 ? 'y' : 'ies'}</span>
      <span class="when"><${Time} at=${letter.time} now=${now} /></span>
      <span class="error-text">${letter.error}</span>
    </div>
    <${ErrorBanner} error=${error} />
    <div class="buttons">
      <button class="link" aria-expanded=${open} onClick=${() => setOpen(o => !o)}>${open ? 'Hide message' : 'Show message'}</button>
      <button class="primary" disabled=${busy} onClick=${replay}>${replayed === undefined ? 'Replay' : 'Replay again'}</button>
    </div>
    ${open ? html`<${Json} value=${letter.preview} />` : null}
  </li>`
}

export function DeadLetters () {
  const { data, error, loading, reload } = useApi('/api/admin/dlq?limit=100')
  const now = useNow()
  const refresh = useMemo(() => debounce(reload, 250), [reload])
  useLive({ streams: ['DLQ'] }, refresh)
  return html`
    <p class="muted">A message a worker could not handle after its last attempt (or at once, when it can never succeed) is kept whole in stream DLQ. Fix the cause, then replay it: the worker meets it again as a new message.</p>
    <${ErrorBanner} error=${error} onRetry=${reload} />
    ${data === undefined
      ? (loading ? html`<p class="boot">Loading…</p>` : null)
      : html`
        <p>${data.letters} dead letter${data.letters === 1 ? '' : 's'} in DLQ, ${data.replayed} replayed.</p>
        ${data.items.length === 0
          ? html`<${Empty}>No dead letters. Every message so far was handled.<//>`
          : html`<ul class="rows">${data.items.map(l => html`<${Letter} key=${l.dlqSeq} letter=${l} now=${now} onReplayed=${reload} />`)}</ul>`}
      `}
  `
}
