import type { TaskState } from '../domain/task.js'

// The approval page as HTML: no script, one form, readable on a phone. Every value from a task
// is escaped.

export interface PageNotice {
  kind: 'error'
  text: string
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, ch => ESCAPES[ch]!)
}

const MAX_INPUT = 20_000

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; padding: 1rem; line-height: 1.45; }
  main { max-width: 40rem; margin: 0 auto; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
  .meta { color: GrayText; margin: 0 0 1rem; overflow-wrap: anywhere; }
  pre { background: rgba(127,127,127,.12); padding: .75rem; border-radius: .4rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .9rem; }
  label { display: block; margin: 1rem 0 .25rem; }
  textarea { box-sizing: border-box; width: 100%; font: inherit; padding: .5rem; }
  .buttons { display: flex; gap: .75rem; margin-top: 1rem; flex-wrap: wrap; }
  button { flex: 1 1 10rem; font: inherit; font-size: 1.1rem; padding: .8rem 1rem; border-radius: .4rem; border: 1px solid transparent; cursor: pointer; }
  button[value=approve] { background: #1a7f37; color: #fff; }
  button[value=reject] { background: #cf222e; color: #fff; }
  .outcome { font-size: 1.15rem; padding: .75rem 1rem; border-radius: .4rem; background: rgba(127,127,127,.12); overflow-wrap: anywhere; }
  .notice { padding: .75rem 1rem; border-radius: .4rem; background: #fff8c5; color: #3b2300; }
`

function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`
}

/** What was recorded, in a sentence. */
export function outcomeText (task: TaskState): string {
  const at = task.decidedAt === undefined ? '' : ` at ${task.decidedAt}`
  const by = task.decidedBy?.via === 'approval' ? ` by ${task.decidedBy.approver}` : task.decidedBy?.via === 'token' ? ' by the waiting system' : ''
  switch (task.status) {
    case 'SUCCEEDED': {
      const comment = (task.output as { comment?: unknown } | undefined)?.comment
      return `Approved${by}${at}.${typeof comment === 'string' ? ` Comment: ${comment}` : ''}`
    }
    case 'FAILED':
      return task.error === 'Rejected'
        ? `Rejected${by}${at}.${task.cause === undefined ? '' : ` ${task.cause}`}`
        : `Failed${by}${at}: ${task.error ?? 'error'}${task.cause === undefined ? '' : ` (${task.cause})`}.`
    case 'TIMED_OUT':
      return `Timed out${at} (${task.error ?? 'States.Timeout'}): no decision was recorded in time.`
    case 'WAITING':
      return 'Waiting for a decision.'
  }
}

/** The page of one approver: the task and the form while it waits, else its outcome; a 404 page when `found` is undefined. */
export function approvalPage (found: { task: TaskState, email: string } | undefined, formToken: string | undefined, notice?: PageNotice): string {
  if (found === undefined) {
    return page('Link not valid', '<h1>This link is not valid</h1>\n<p>It may be mistyped, or the task it named is gone. Ask the sender for a new one.</p>')
  }
  const { task, email } = found
  let input = JSON.stringify(task.input, null, 2)
  if (input.length > MAX_INPUT) input = `${input.slice(0, MAX_INPUT)}\n…`
  const parts = [
    `<h1>${escapeHtml(task.title)}</h1>`,
    `<p class="meta">${escapeHtml(task.type)} · asked by ${escapeHtml(task.owner)} · for ${escapeHtml(email)} · decide by ${escapeHtml(task.deadline)}</p>`,
    ...(notice === undefined ? [] : [`<p class="notice" role="alert">${escapeHtml(notice.text)}</p>`]),
    '<h2>Input</h2>',
    `<pre>${escapeHtml(input)}</pre>`
  ]
  if (task.status === 'WAITING' && formToken !== undefined) {
    parts.push(`<form method="post">
<input type="hidden" name="csrf" value="${escapeHtml(formToken)}">
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" rows="3" maxlength="2000"></textarea>
<div class="buttons">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="reject">Reject</button>
</div>
</form>`)
  } else {
    parts.push(`<p class="outcome" id="outcome" data-status="${task.status}">${escapeHtml(outcomeText(task))}</p>`)
  }
  return page(`${task.status === 'WAITING' ? 'Approval' : 'Decided'}: ${task.title}`, parts.join('\n'))
}
