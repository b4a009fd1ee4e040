import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyStatic from '@fastify/static'
import type { FastifyReply } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { jobViewOf, listJobs } from '../projections/jobs.js'
import { JobList, JobListQuery, TailQuery, WhoAmI } from '../schema/api/admin.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sseConnectionsOf } from './http/sse.js'
import { sseResponse } from './http/openapi.js'
import { streamTail, typeFilter } from './http/sse-tail.js'
import { waitForProjection } from './http/consistency.js'

// The web console (/console: static files in web/, Preact and htm served as ES modules from
// node_modules, no build step) and the reads it needs that no feature route gives: who the
// caller is, a listing of jobs, and the live tail of every stream. It talks to Jetway's own
// HTTP API only; in AUTH_MODE=jwt it sends the token as a Bearer header (fetch-based SSE), so
// the token never rides in a URL.

export interface ConsoleOptions {
  runtime: Runtime
  auth: Auth
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const WEB_DIR = join(ROOT, 'web')
const require = createRequire(import.meta.url)
/** a package's directory, from the file its main export resolves to (<pkg>/dist/<file>) */
const packageDir = (name: string): string => dirname(dirname(require.resolve(name)))

/** Streams a user (not an admin) never sees in the tail: DLQ holds other users' messages whole; LEASES is the instances' own; ERASURES says who was erased. */
const ADMIN_ONLY_STREAMS = new Set(['DLQ', 'ERASURES', 'LEASES'])
const STREAM_NAMES_TTL_MS = 10_000

/**
 * The console's Content-Security-Policy: its own files only, and the one inline script (the
 * import map that names the vendored modules) by its hash.
 */
function consoleCsp (): string {
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8')
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)]
    .map(m => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`)
  return `default-src 'self'; script-src 'self' ${hashes.join(' ')}; style-src 'self'; img-src 'self' data:; connect-src 'self'; ` +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

export const consolePlugin: FastifyPluginAsyncTypebox<ConsoleOptions> = async (app, { runtime, auth }) => {
  const { db, jsm } = runtime
  // the caps of every SSE route of the process hold for the tail too
  const connections = sseConnectionsOf(runtime)
  app.addHook('preClose', async () => { connections.closeAll() })

  let names: { at: number, list: string[] } | undefined
  async function streamNames (): Promise<string[]> {
    if (names !== undefined && Date.now() - names.at < STREAM_NAMES_TTL_MS) return names.list
    const list: string[] = []
    for await (const name of jsm.streams.names()) list.push(name)
    names = { at: Date.now(), list: list.sort() }
    return names.list
  }
  const visible = async (admin: boolean): Promise<string[]> => (await streamNames()).filter(s => admin || !ADMIN_ONLY_STREAMS.has(s))

  // the API the console reads
  await app.register(async scope => {
    const api = scope.withTypeProvider<TypeBoxTypeProvider>()
    api.addHook('onRequest', auth.authenticate)

    api.get('/api/whoami', {
      schema: { tags: ['console'], summary: 'The caller: auth mode, user, whether admin, the streams its tail shows', response: { 200: WhoAmI } }
    }, async request => {
      const id = auth.identity(request)
      return { authMode: auth.mode, userId: id.userId ?? null, email: id.email ?? null, admin: id.admin, streams: await visible(id.admin) }
    })

    api.get('/api/jobs', {
      schema: { tags: ['console'], summary: 'Jobs, newest first: the caller\'s (an admin\'s: everyone\'s, or ?userId=)', querystring: JobListQuery, response: { 200: JobList } }
    }, async request => {
      const q = request.query
      const id = auth.identity(request)
      if (q.userId !== undefined) auth.requireUser(request, q.userId)
      await waitForProjection(runtime, 'jobs', request, q.min_seq)
      const userId = q.userId ?? (id.admin ? undefined : id.userId)
      const page = await listJobs(db, { userId, status: q.status, before: q.cursor === undefined ? undefined : Number(q.cursor), limit: q.limit })
      return {
        items: page.items.map(jobViewOf),
        nextCursor: page.next === undefined ? null : String(page.next)
      }
    })

    api.get('/api/tail', {
      schema: {
        tags: ['console'],
        summary: 'The live tail of every stream (an admin) or of the caller\'s own events, over SSE; filter by stream and type',
        description: 'Each event: `id:` the position in every stream of the connection (`COLLECT:5,JOBS:12`; resume with Last-Event-ID), ' +
          '`event:` its type, `data:` `{stream, seq, subject, type, time, actor, data}` (a `preview` text instead of `data`, and `truncated: true`, ' +
          'past 4 KiB). A user\'s events are those they caused (ce-actor) or whose data names them (user_id, userId, owner, organizer). ' +
          'Opens with an empty `position` event at the live end; a resume further behind than 1000 events of a stream gets a `gap` event.',
        querystring: TailQuery,
        response: { 200: sseResponse('the events of the streams asked for, live (after `history` stored ones)') }
      }
    }, async (request, reply) => {
      const q = request.query
      const id = auth.identity(request)
      const all = await visible(id.admin)
      const streams = q.streams === undefined ? all : [...new Set(q.streams.split(','))]
      const unknown = streams.filter(s => !all.includes(s))
      if (unknown.length > 0) {
        const hidden = unknown.filter(s => ADMIN_ONLY_STREAMS.has(s))
        if (hidden.length > 0 && !id.admin) throw new JetwayError(ErrorCodes.forbidden, `stream ${hidden.join(', ')} is for admins`)
        throw new JetwayError(ErrorCodes.validation, `no stream ${unknown.join(', ')}`, [{ field: 'streams', message: `names no stream of this server (${all.join(', ')})` }])
      }
      if (q.user !== undefined) auth.requireUser(request, q.user)
      const users = q.user !== undefined
        ? new Set([q.user])
        : id.admin ? undefined : new Set([id.userId, id.email].filter((u): u is string => u !== undefined))
      const types = typeFilter(q.types)
      const lastEventId = request.headers['last-event-id']
      await streamTail(request, reply, {
        tail: runtime.tail,
        connections,
        streams,
        keep: ev => (types === undefined || types(ev.type)) && (users === undefined || ev.users.some(u => users.has(u))),
        user: id.userId,
        lastEventId: typeof lastEventId === 'string' ? lastEventId : q.lastEventId,
        history: q.history
      })
    })
  })

  // the console's files
  const csp = consoleCsp()
  const headers = (reply: FastifyReply): void => {
    reply.header('content-security-policy', csp)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('cache-control', 'no-cache')
  }
  await app.register(fastifyStatic, { root: WEB_DIR, prefix: '/console/', index: 'index.html', setHeaders: headers })
  // the page's relative URLs (./app.js, ./vendor/…) need the trailing slash
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => await reply.redirect('/console/'))
  await app.register(fastifyStatic, {
    root: packageDir('preact'),
    prefix: '/console/vendor/preact/',
    decorateReply: false,
    allowedPath: path => /^\/(dist\/preact|hooks\/dist\/hooks)\.mjs$/.test(path),
    setHeaders: headers
  })
  await app.register(fastifyStatic, {
    root: packageDir('htm'),
    prefix: '/console/vendor/htm/',
    decorateReply: false,
    allowedPath: path => path === '/dist/htm.module.js',
    setHeaders: headers
  })
}
