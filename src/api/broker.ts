import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { CloudEvent, HTTP } from 'cloudevents'
import sjson from 'secure-json-parse'
import { ErrorCodes, JetwayError, type FieldError } from '../lib/errors.js'
import { appendBrokerEvent, toCloudEventJson } from '../store/broker.js'
import { handleCommand } from '../store/command.js'
import { deleteTriggerConsumer, ensureTriggerConsumer, RESERVED_CONSUMERS } from '../store/trigger-consumers.js'
import type { BrokerEventReceived, CloudEventJson, TriggerCreated } from '../schema/events/relay.js'
import { EventAccepted, RelayBody, Trigger, TriggerBody, TriggerList, TriggerParams } from '../schema/api/relay.js'
import { CloudEventBody } from '../schema/api/jobs.js'
import { Type } from '@sinclair/typebox'
import { openapiDocs } from './http/openapi.js'
import { MinSeqQuery } from '../schema/api/common.js'
import { DEFAULT_EVENT_SOURCE, DEFAULT_EVENT_TYPE, triggerAggregate, triggerOf } from '../domain/triggers.js'
import { findTrigger, listTriggers } from '../projections/relay.js'
import type { Runtime } from '../runtime.js'
import type { Auth } from './http/auth.js'
import { sendSeq, waitForProjection } from './http/consistency.js'
import { idempotencyKeyOf } from './http/idempotency.js'
import { addressPolicy, hostRefusal } from '../lib/ssrf.js'
import { NOT_ALLOWED } from '../lib/outbound.js'

// The broker of seed 001: POST /event takes CloudEvents (binary, structured, batch; 1.0 and
// 0.3) or the seed's plain JSON {targetURL, targetAPI, headers, body} (a CloudEvent of type
// dev.jetway.relay.request, which the default trigger receive-cloudevents relays), and puts
// them in RELAY. Triggers (Knative's Trigger: filter, subscriber, delivery) are created and
// deleted under /api/triggers; each is a durable consumer of RELAY named after it.

export interface BrokerOptions {
  runtime: Runtime
  auth: Auth
}

const STRUCTURED = 'application/cloudevents+json'
const BATCH = 'application/cloudevents-batch+json'
const EVENT_BODY_LIMIT = 512 * 1024
const MAX_BATCH = 1000

function contentTypeOf (request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
}

const REQUIRED = ['specversion', 'id', 'source', 'type'] as const

/**
 * The required attributes the sender gave, checked before the SDK reads the event (it would
 * make up a missing id and time rather than refuse them).
 */
function missingAttributes (request: FastifyRequest, via: BrokerEventReceived['via']): FieldError[] {
  const errors: FieldError[] = []
  const check = (get: (name: string) => unknown, at: string): void => {
    for (const name of REQUIRED) {
      const value = get(name)
      if (typeof value !== 'string' || value === '') errors.push({ field: `${at}${name}`, message: value === undefined ? 'is required' : 'must be a non-empty string' })
    }
  }
  if (via === 'binary') {
    check(name => request.headers[`ce-${name}`], '')
  } else if (via === 'structured') {
    const body = request.body
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ field: '(body)', message: 'must be a CloudEvent in JSON' }]
    check(name => (body as Record<string, unknown>)[name], '')
  } else {
    const body = request.body
    if (!Array.isArray(body)) return [{ field: '(body)', message: 'must be an array of CloudEvents' }]
    if (body.length === 0 || body.length > MAX_BATCH) return [{ field: '(body)', message: `must hold 1 to ${MAX_BATCH} events` }]
    body.forEach((item: unknown, i) => {
      if (typeof item !== 'object' || item === null) errors.push({ field: `${i}`, message: 'must be a CloudEvent' })
      else check(name => (item as Record<string, unknown>)[name], `${i}.`)
    })
  }
  return errors
}

/** The CloudEvents in a request, or a 400 naming what is wrong with them. */
function cloudEventsOf (request: FastifyRequest, raw: string | Buffer): { events: CloudEventJson[], via: BrokerEventReceived['via'] } {
  const type = contentTypeOf(request)
  const via = type === BATCH ? 'batch' : type === STRUCTURED ? 'structured' : 'binary'
  const missing = missingAttributes(request, via)
  if (missing.length > 0) throw new JetwayError(ErrorCodes.validation, `events missing required attributes: ${missing.map(e => `${e.field} ${e.message}`).join('; ')}`, missing)
  let list: CloudEvent<unknown>[]
  try {
    // a batch is read event by event, so that one bad event is named instead of failing the lot
    list = via === 'batch'
      ? (request.body as Record<string, unknown>[]).map(item => new CloudEvent<unknown>(item as ConstructorParameters<typeof CloudEvent<unknown>>[0], false))
      : [HTTP.toEvent({ headers: request.headers as Record<string, string>, body: raw }) as CloudEvent<unknown>]
  } catch (err) {
    throw new JetwayError(ErrorCodes.validation, `not a valid CloudEvent: ${(err as Error).message}`, [{ field: '(body)', message: (err as Error).message }])
  }
  const errors: FieldError[] = []
  list.forEach((ce, i) => {
    const at = via === 'batch' ? `${i}.` : ''
    if (ce.specversion !== '1.0' && ce.specversion !== '0.3') {
      errors.push({ field: `${at}specversion`, message: 'must be 1.0 or 0.3' })
      return
    }
    try {
      ce.validate()
    } catch (err) {
      const details = (err as { errors?: { instancePath?: string, params?: { missingProperty?: string }, message?: string }[] }).errors ?? []
      if (details.length === 0) errors.push({ field: `${at}(event)`, message: (err as Error).message })
      for (const d of details) {
        const field = d.params?.missingProperty ?? d.instancePath?.replace(/^\//, '') ?? '(event)'
        errors.push({ field: `${at}${field}`, message: d.params?.missingProperty !== undefined ? 'is required' : d.message ?? 'is invalid' })
      }
    }
  })
  if (errors.length > 0) throw new JetwayError(ErrorCodes.validation, `events missing required attributes or with invalid ones: ${errors.map(e => `${e.field} ${e.message}`).join('; ')}`, errors)
  return { events: list.map(toCloudEventJson), via }
}

function triggerView (t: TriggerCreated, version: number): Trigger {
  const { deadLetterSink } = t.delivery
  return {
    name: t.name,
    consumer: t.name,
    filter: t.filter,
    subscriber: t.subscriber,
    ownSecret: t.secret !== undefined,
    delivery: {
      retry: t.delivery.retry,
      backoffPolicy: t.delivery.backoffPolicy,
      backoffDelay: t.delivery.backoffDelay,
      timeout: t.delivery.timeout,
      ...(deadLetterSink === undefined ? {} : { deadLetterSink })
    },
    createdAt: t.createdAt,
    version
  }
}

export const broker: FastifyPluginAsyncTypebox<BrokerOptions> = async (app, { runtime, auth }) => {
  const { js, jsm, db, clock, config, log } = runtime

  await app.register(async scope => {
    const raws = new WeakMap<FastifyRequest, string | Buffer>()
    // the CloudEvents SDK reads the body as sent; binary mode may carry any content type
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(['application/json', STRUCTURED, BATCH], { parseAs: 'string' }, (request, body, done) => {
      raws.set(request, body as string)
      try {
        done(null, sjson.parse(body as string))
      } catch (err) {
        done(new JetwayError(ErrorCodes.validation, `malformed JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }]), undefined)
      }
    })
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      raws.set(request, body as Buffer)
      done(null, body)
    })
    scope.addHook('onRequest', auth.authenticate)

    scope.post('/event', {
      bodyLimit: EVENT_BODY_LIMIT,
      schema: { tags: ['broker'], summary: 'Publish CloudEvents (binary, structured or batch) or the seed\'s plain JSON; triggers deliver them', response: { 202: EventAccepted } },
      config: openapiDocs({
        body: Type.Union([CloudEventBody, Type.Array(CloudEventBody), RelayBody]),
        consumes: ['application/cloudevents+json', 'application/cloudevents-batch+json', 'application/json']
      })
    }, async (request, reply) => {
      const type = contentTypeOf(request)
      const raw = raws.get(request) ?? ''
      let events: CloudEventJson[]
      let via: BrokerEventReceived['via']
      if (type === STRUCTURED || type === BATCH || request.headers['ce-specversion'] !== undefined) {
        ({ events, via } = cloudEventsOf(request, raw))
      } else if (type === 'application/json') {
        // the seed's plain body: the data of a CloudEvent of the default type
        const data = request.body
        if (typeof data !== 'object' || data === null || Array.isArray(data)) {
          throw new JetwayError(ErrorCodes.validation, 'a plain JSON event is an object {targetURL, targetAPI, headers, body}', [{ field: '(body)', message: 'must be an object' }])
        }
        // the Idempotency-Key, whole, is the CloudEvent's id: a retry is the same (source, id), stored once
        events = [{
          specversion: '1.0',
          id: idempotencyKeyOf(request) ?? randomUUID(),
          source: DEFAULT_EVENT_SOURCE,
          type: DEFAULT_EVENT_TYPE,
          time: clock.now().toISOString(),
          datacontenttype: 'application/json',
          data
        } as CloudEventJson]
        via = 'plain'
      } else {
        throw Object.assign(new Error(`send a CloudEvent (ce-* headers, ${STRUCTURED} or ${BATCH}) or the seed's JSON`), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' })
      }
      const results = []
      for (const event of events) {
        const appended = await appendBrokerEvent(js, { event, via, correlationId: request.id, time: clock.now() })
        results.push({ id: event.id, source: event.source, type: event.type, seq: appended.seq, duplicate: appended.duplicate })
      }
      sendSeq(reply, 'RELAY', Math.max(...results.map(r => r.seq)))
      return await reply.code(202).send({ accepted: results.length, events: results })
    })
  })

  await app.register(async plain => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>()
    scope.addHook('onRequest', auth.authenticate)
    const requireAdmin = (request: FastifyRequest): void => {
      if (!auth.identity(request).admin) throw new JetwayError(ErrorCodes.forbidden, 'triggers are for admins (a token with role admin)')
    }
    // A subscriber or dead-letter sink the SSRF guard will refuse (a loopback or metadata
    // address, unless RELAY_ALLOW lists it) is refused now, not dead-lettered at every delivery.
    const policy = addressPolicy(config.outbound.allow)
    const refusedUrls = (trigger: TriggerCreated): FieldError[] => {
      const urls: [string, string | undefined][] = [
        ['subscriber.url', 'url' in trigger.subscriber ? trigger.subscriber.url : undefined],
        ['delivery.deadLetterSink.url', trigger.delivery.deadLetterSink?.url]
      ]
      return urls.flatMap(([field, url]) => {
        const reason = url === undefined ? undefined : hostRefusal(policy, new URL(url).hostname)
        return reason === undefined ? [] : [{ field, message: `${reason}${NOT_ALLOWED}` }]
      })
    }

    scope.post('/api/triggers', { schema: { tags: ['broker'], summary: 'Create a trigger: a filter, a subscriber and a delivery policy (admin)', body: TriggerBody, response: { 201: Trigger } } }, async (request, reply) => {
      requireAdmin(request)
      const input = request.body
      if (RESERVED_CONSUMERS.has(input.name)) throw new JetwayError(ErrorCodes.conflict, `${input.name} is the name of one of Jetway's own consumers of RELAY`)
      const trigger = triggerOf(input, config.relay, clock.now().toISOString())
      const errors = Array.isArray(trigger) ? trigger : refusedUrls(trigger)
      if (Array.isArray(trigger) || errors.length > 0) throw new JetwayError(ErrorCodes.validation, `invalid trigger: ${errors.map(e => `${e.field} ${e.message}`).join('; ')}`, errors)
      const result = await handleCommand({ js, jsm, clock }, triggerAggregate, input.name, { kind: 'create', trigger }, {
        source: '/jetway/triggers', actor: auth.identity(request).userId, correlationId: request.id
      })
      // the consumer exists from now on: events from here are the trigger's, even before a dispatcher runs
      await ensureTriggerConsumer(jsm, trigger, log)
      sendSeq(reply, 'RELAY', result.version)
      reply.header('location', `/api/triggers/${input.name}`)
      return await reply.code(201).send(triggerView(trigger, result.version))
    })

    // a subscriber URL can carry a secret (a Slack or Teams webhook): triggers are the admin's to read too
    scope.get('/api/triggers', { schema: { tags: ['broker'], summary: 'Every trigger (admin)', querystring: MinSeqQuery, response: { 200: TriggerList } } }, async request => {
      requireAdmin(request)
      await waitForProjection(runtime, 'relay', request, request.query.min_seq)
      return { items: (await listTriggers(db)).map(t => triggerView(t.trigger, t.version)) }
    })

    scope.get('/api/triggers/:name', { schema: { tags: ['broker'], summary: 'A trigger (admin)', params: TriggerParams, querystring: MinSeqQuery, response: { 200: Trigger } } }, async request => {
      requireAdmin(request)
      await waitForProjection(runtime, 'relay', request, request.query.min_seq)
      const found = await findTrigger(db, request.params.name)
      if (found === undefined) throw new JetwayError(ErrorCodes.notFound, `no trigger ${request.params.name}`)
      return triggerView(found.trigger, found.version)
    })

    scope.delete('/api/triggers/:name', {
      schema: { tags: ['broker'], summary: 'Delete a trigger and its consumer (admin)', params: TriggerParams },
      config: openapiDocs({ responses: { 204: { description: 'Deleted' } } })
    }, async (request, reply) => {
      requireAdmin(request)
      const result = await handleCommand({ js, jsm, clock }, triggerAggregate, request.params.name, { kind: 'delete', name: request.params.name }, {
        source: '/jetway/triggers', actor: auth.identity(request).userId, correlationId: request.id
      })
      await deleteTriggerConsumer(jsm, request.params.name)
      sendSeq(reply, 'RELAY', result.version)
      return await reply.code(204).send()
    })
  })
}
