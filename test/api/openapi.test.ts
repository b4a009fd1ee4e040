import t from 'tap'
import type { RouteOptions } from 'fastify'
import { validate } from '@readme/openapi-parser'
import { startService } from '../fixtures/service.js'
import { documentedRoute } from '../../src/api/http/openapi.js'

// The OpenAPI document is generated from the routes' own schemas: it must be a valid OpenAPI
// 3.1 document, and hold every route the app registered (but HEAD twins, /docs and static files).

interface Operation {
  tags?: string[]
  summary?: string
  security?: Array<Record<string, string[]>>
  parameters?: Array<{ in: string, name: string }>
  requestBody?: { content: Record<string, unknown> }
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }>, headers?: Record<string, unknown> }>
}
type Doc = { openapi: string, paths: Record<string, Record<string, Operation>>, components: { securitySchemes: Record<string, unknown> } }

t.test('/openapi.json is valid OpenAPI 3.1 and documents every route', async t => {
  const routes: RouteOptions[] = []
  const svc = await startService(t, { onRoute: route => { routes.push(route) } })
  const res = await svc.app.inject({ url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json<Doc>()
  t.equal(doc.openapi, '3.1.0')

  const result = await validate(structuredClone(doc) as never)
  t.ok(result.valid, 'the document validates')
  if (!result.valid) t.comment(JSON.stringify(result.errors, null, 2))

  const missing: string[] = []
  const expected = routes.filter(documentedRoute)
  for (const route of expected) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    for (const method of (Array.isArray(route.method) ? route.method : [route.method]).filter(m => m !== 'HEAD')) {
      const op = doc.paths[path]?.[method.toLowerCase()]
      if (op === undefined) missing.push(`${method} ${path}`)
    }
  }
  t.same(missing, [], 'no registered route is missing from the document')
  t.ok(expected.length >= 40, `${expected.length} routes documented`)

  let operations = 0
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      operations++
      const name = `${method.toUpperCase()} ${path}`
      t.ok(op.tags !== undefined && op.tags.length > 0, `${name} has a tag`)
      t.ok(op.summary !== undefined && op.summary !== '', `${name} has a summary`)
      const success = Object.entries(op.responses).filter(([code]) => /^[23]/.test(code))
      t.ok(success.length > 0, `${name} declares its success answer`)
      // every route but the probes is rate limited (RATE_LIMIT), the probes never; an SSE route
      // answers 200 with a retry hint instead, so that an EventSource comes back
      if (op.tags?.[0] === 'health') {
        t.equal(op.responses['429'], undefined, `${name} is never rate limited`)
      } else if (op.responses['200']?.content?.['text/event-stream'] !== undefined) {
        t.equal(op.responses['429'], undefined, `${name} (SSE) never answers 429`)
      } else {
        t.equal(op.responses['429']?.content?.['application/problem+json']?.schema?.$ref, '#/components/schemas/Problem', `${name} documents its 429`)
        t.ok(op.responses['429']?.headers?.['Retry-After'], `${name}: the 429 names Retry-After`)
      }
      if (path.startsWith('/sfn')) {
        t.ok(op.responses.default?.content?.['application/x-amz-json-1.0'], `${name} answers AWS errors`)
        continue
      }
      t.equal(op.responses.default?.content?.['application/problem+json']?.schema?.$ref, '#/components/schemas/Problem', `${name} answers errors as problem+json`)
      if ((op.requestBody !== undefined || (op.parameters ?? []).length > 0) && method !== 'options') {
        t.ok(op.responses['400'] !== undefined, `${name} documents its 400`)
      }
    }
  }
  t.ok(operations >= 40)

  t.same(Object.keys(doc.components.securitySchemes).sort(), ['bearerAuth', 'intakeKey', 'writeKey'])
  t.same(doc.paths['/v1/batch']!.post!.security, [{ writeKey: [] }], 'the analytics SDK routes take a write key')
  t.ok(doc.paths['/v1/batch']!.post!.requestBody, 'the batch documents its messages')
  t.same(doc.paths['/api/collect']!.post!.security, [{ bearerAuth: [] }])
  t.same(doc.paths['/noti/events']!.post!.security, [{ intakeKey: [] }, { bearerAuth: [] }])
  t.same(doc.paths['/api/tasks/success']!.post!.security, [], 'the task token is the credential')
  t.same(doc.paths['/healthz']!.get!.security, undefined)
  t.same(doc.paths['/event/callback']!.post!.security, [], 'the callback receiver is open to whoever calls back')
  t.ok(doc.paths['/sync']!.post!.responses['504'], 'the relay documents its gateway answers')
  t.ok(doc.paths['/api/collect']!.post!.responses['401'])

  // SSE routes say what they stream
  for (const [path, method] of [['/noti/sub/{eventId}', 'get'], ['/noti/users/{userId}/sub', 'get'], ['/api/tasks/{id}/events', 'get'], ['/api/tasks/sub', 'get'], ['/api/tail', 'get'], ['/event/callback/sub', 'get']] as const) {
    t.ok(doc.paths[path]?.[method]?.responses['200']?.content?.['text/event-stream'], `${path} answers text/event-stream`)
    t.match(String((doc.paths[path]?.[method]?.responses['200']?.content?.['text/event-stream']?.schema as { description?: string } | undefined)?.description), /cannot be served now/, `${path} documents its come-back-later answer`)
  }
  // routes that read their own body still document it
  t.ok(doc.paths['/sfn']!.post!.requestBody?.content['application/x-amz-json-1.0'], 'the Step Functions wire format')
  t.ok(doc.paths['/tasks/approval/{token}']!.post!.requestBody?.content['application/x-www-form-urlencoded'], 'the approval form')
  t.ok(doc.paths['/noti/events']!.post!.requestBody?.content['application/cloudevents+json'], 'the intake takes CloudEvents')
})

t.test('/docs serves Swagger UI from the package, no CDN', async t => {
  const { app } = await startService(t)
  const page = await app.inject({ url: '/docs/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.notMatch(page.body, /https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"']*\.(js|css)/i, 'no script or style from another host')
  const scripts = [...page.body.matchAll(/src="([^"]+\.js)"/g)].map(m => m[1]!)
  t.ok(scripts.length > 0)
  for (const src of scripts) {
    const asset = await app.inject({ url: new URL(src, 'http://x/docs/').pathname })
    t.equal(asset.statusCode, 200, `${src} is served`)
  }
  const json = await app.inject({ url: '/docs/json' })
  t.equal(json.json().openapi, '3.1.0')
})
