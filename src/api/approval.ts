import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { loadState } from '../store/command.js'
import { TaskClosed, taskAggregate, type TaskState } from '../domain/task.js'
import { formToken, parseApprovalToken, verifyFormToken } from '../lib/task-tokens.js'
import type { Runtime } from '../runtime.js'
import type { TaskCommands } from './task-commands.js'
import { approvalPage, type PageNotice } from './approval-page.js'
import { openapiDocs } from './http/openapi.js'
import { ApprovalForm } from '../schema/api/tasks.js'

// The page an approver's email links to, safe from mail link scanners (Safe Links, Mimecast,
// Proofpoint fetch every link with GET and HEAD before a person does): GET and HEAD only show
// the task and a form; only the form's POST decides. The link's approval token says which task
// and which approver; the form's hidden field (a form token bound to that approval token, made
// when the page was rendered) makes a bare POST to the link, or one from another site, fail.
// After a decision, or a timeout, the page shows the recorded outcome instead of the buttons.

export interface ApprovalOptions {
  runtime: Runtime
  commands: TaskCommands
}

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // the token is in the URL: never hand it on to another site
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

const MAX_COMMENT = 2000

const html = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } })

interface Approver {
  task: TaskState
  email: string
}

export const approval: FastifyPluginAsync<ApprovalOptions> = async (app, { runtime, commands }) => {
  const { secret } = commands
  const store = { js: runtime.js, jsm: runtime.jsm, clock: runtime.clock }

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  /** The task and the approver the link's token names, from the stream (never a lagging read model). */
  async function approverOf (token: string): Promise<Approver | undefined> {
    const claim = parseApprovalToken(secret, token)
    if (claim === undefined) return undefined
    const { state } = await loadState(store, taskAggregate, claim.taskId)
    const email = state?.approvers[claim.index]
    if (state === undefined || !claim.verify(email)) return undefined
    return { task: state, email: email! }
  }

  function render (reply: FastifyReply, status: number, token: string, found: Approver | undefined, notice?: PageNotice): FastifyReply {
    const form = found?.task.status === 'WAITING' ? formToken(secret, token, runtime.clock.now().getTime()) : undefined
    return reply.code(status).headers(HEADERS).send(approvalPage(found, form, notice))
  }

  // GET (and the HEAD Fastify derives from it) never changes anything
  app.get<{ Params: { token: string } }>('/tasks/approval/:token', {
    schema: { tags: ['approval'], summary: 'The approval page of one approver: the task and a form (changes nothing)' },
    config: openapiDocs({ responses: { 200: html('The page: the task, and the form while it waits (else the recorded outcome)'), 404: html('Not a link this service made') } })
  }, async (request, reply) => {
    const found = await approverOf(request.params.token)
    return render(reply, found === undefined ? 404 : 200, request.params.token, found)
  })

  app.post<{ Params: { token: string }, Body: Record<string, string> | undefined }>('/tasks/approval/:token', {
    schema: { tags: ['approval'], summary: 'Approve or reject (the page\'s form post); then back to the page' },
    config: openapiDocs({
      body: ApprovalForm,
      consumes: ['application/x-www-form-urlencoded'],
      responses: {
        303: { description: 'Recorded (or someone decided first): see the page' },
        400: html('No decision chosen: the form again'),
        403: html('No valid form token, or a post from another site: the form again, nothing recorded'),
        404: html('Not a link this service made')
      }
    })
  }, async (request, reply) => {
    const { token } = request.params
    const found = await approverOf(token)
    if (found === undefined) return render(reply, 404, token, undefined)
    const body = typeof request.body === 'object' && request.body !== null ? request.body : {}
    const decision = body.decision
    const comment = (body.comment ?? '').trim().slice(0, MAX_COMMENT)
    if (!sameOrigin(request) || !verifyFormToken(secret, token, body.csrf ?? '', runtime.clock.now().getTime())) {
      return render(reply, 403, token, found, { kind: 'error', text: 'This form expired or did not come from this page. Nothing was recorded: please choose again.' })
    }
    if (decision !== 'approve' && decision !== 'reject') {
      return render(reply, 400, token, found, { kind: 'error', text: 'Choose Approve or Reject.' })
    }
    const by = { via: 'approval' as const, approver: found.email }
    const meta = { source: '/jetway/tasks/approval', actor: found.email, correlationId: request.id }
    try {
      if (decision === 'approve') {
        await commands.completeTask(found.task.taskId, { kind: 'succeed', output: { approved: true, approver: found.email, comment: comment === '' ? null : comment } }, by, meta)
      } else {
        await commands.completeTask(found.task.taskId, { kind: 'fail', error: 'Rejected', cause: comment === '' ? `rejected by ${found.email}` : comment }, by, meta)
      }
    } catch (err) {
      // someone decided first, or the task timed out: the page shows what was recorded
      if (!(err instanceof TaskClosed)) throw err
    }
    // Post/Redirect/Get: the page as it now is; a reload does not post again
    return await reply.code(303).header('location', request.url).header('cache-control', 'no-store').send()
  })
}

/** An Origin header, when the browser sends one, names this host (a form posted from elsewhere does not). */
function sameOrigin (request: FastifyRequest): boolean {
  const origin = request.headers.origin
  if (origin === undefined || origin === 'null') return true
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    return false
  }
}
