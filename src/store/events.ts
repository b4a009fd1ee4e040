import { createHash, randomFillSync } from 'node:crypto'
import { MsgHdrsImpl, type MsgHdrs } from '@nats-io/transport-node'
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JsMsg, type StoredMsg } from '@nats-io/jetstream'
import { definitionOf, type EventDefinition, type EventData } from '../schema/events/index.js'
import { VersionConflict } from '../lib/errors.js'

// The envelope: CloudEvents 1.0 in NATS binary mode. Attributes are `ce-*` headers, the body
// is the JSON data, and `ce-dataschema` names the schema version. Nats-Msg-Id carries the
// idempotency key so a retry inside the stream's duplicate window appends nothing.
//
// Headers are most of what a small event costs on disk (a collected event's were 393 bytes
// beside 196 of data), so only what differs from a default is written (the compact form):
// `ce-specversion` (always 1.0) and `content-type` (always application/json) are implied;
// `ce-dataschema` only for versions after 1; `ce-type` and `ce-source` only where they differ
// from the stream's (ENVELOPE_DEFAULTS); `ce-id` is 22 characters (16 random bytes, base64url).
// Events stored in the full form (every header written, before this) decode as they always did:
// a default fills only a header that is absent.

export interface NewEvent<D extends EventDefinition> {
  def: D
  data: EventData<D>
  /** the NATS subject, with user tokens already escaped */
  subject: string
  source: string
  /** CloudEvents subject: what the event is about, e.g. the user or meeting id */
  about?: string
  idempotencyKey?: string
  actor?: string
  correlationId?: string
  causationId?: string
  /** optimistic concurrency: the subject's last stream sequence (0 = subject must be empty) */
  expectLastSubjectSeq?: number
  time: Date
}

export interface Appended {
  seq: number
  duplicate: boolean
}

export interface StoredEvent<T = unknown> {
  seq: number
  natsSubject: string
  id: string
  type: string
  version: number
  source: string
  time: string
  about?: string
  actor?: string
  correlationId?: string
  causationId?: string
  data: T
}

const encoder = new TextEncoder()

/**
 * The type and source of the events on a stream's subjects, by the subject's first token: a
 * header equal to its default is not written, and an absent one decodes to it. Frozen: an entry
 * is added, never changed or removed (stored events decode by it).
 */
export const ENVELOPE_DEFAULTS: Readonly<Record<string, { type: string, source: string }>> = Object.freeze({
  collect: { type: 'collect.event.received', source: '/jetway/collect' }
})

function defaultsOf (subject: string): { type: string, source: string } | undefined {
  const dot = subject.indexOf('.')
  return ENVELOPE_DEFAULTS[dot < 0 ? subject : subject.slice(0, dot)]
}

/** The ce-type of a stored message from its headers (a dead letter keeps them) and subject. */
export function typeOfHeaders (subject: string, headers: Record<string, string>): string {
  return headers['ce-type'] ?? defaultsOf(subject)?.type ?? ''
}

// ids from a pool of random bytes: one randomFillSync per 256 ids, not one call per event
const ID_BYTES = 16
const pool = Buffer.alloc(ID_BYTES * 256)
let poolAt = pool.length

/** A CloudEvents id: 16 random bytes (the entropy of a UUID's 122 bits and more) as 22 base64url characters. */
export function newEventId (): string {
  if (poolAt >= pool.length) { randomFillSync(pool); poolAt = 0 }
  poolAt += ID_BYTES
  return pool.toString('base64url', poolAt - ID_BYTES, poolAt)
}

// Header values are percent-encoded as the CloudEvents HTTP binding does: anything outside
// printable ASCII, and '%' and '"', so a user id with a newline cannot break the header block.
// Per UTF-8 byte, so it never throws: a lone surrogate (not text; the API refuses it) becomes
// the bytes of U+FFFD where encodeURIComponent would throw a URIError.
export function toHeader (value: string): string {
  return value.replace(/[^\x20-\x7E]|[%"]/gu, ch => {
    let out = ''
    for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
    return out
  })
}

const PLAIN_MSG_ID = /^[\x21-\x7E]{1,200}$/

/**
 * The Nats-Msg-Id for an idempotency key: the key itself when it is short printable ASCII
 * (readable in `nats stream view`), else a hash of it, so no input can put a line break into
 * the header or make the message too large.
 */
export function msgIdOf (key: string): string {
  return PLAIN_MSG_ID.test(key) ? key : `sha256:${createHash('sha256').update(JSON.stringify(key)).digest('base64url')}`
}

/**
 * An idempotency key from several parts of user input, unambiguous whatever they hold
 * (`a:b` + `c` and `a` + `b:c` differ) and of a fixed size: `<prefix>:<hash>`, the hash the
 * first 16 bytes of a SHA-256 (22 characters: it only has to tell keys apart within the
 * duplicate window, and it is written with every event).
 */
export function keyOf (prefix: string, ...parts: string[]): string {
  return `${prefix}:${createHash('sha256').update(JSON.stringify(parts)).digest().toString('base64url', 0, 16)}`
}

function fromHeader (value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

export function eventHeaders (ev: NewEvent<EventDefinition>): MsgHdrs {
  // Filled in straight (as set() with an exact key would): every value is printable ASCII here,
  // fixed (type, time) or toHeader()'s, so set()'s per-call key and value checks (8% of a batch
  // ingest's thread, profiled) would find nothing.
  const h = new MsgHdrsImpl()
  const put = (key: string, value: string): void => { h.headers.set(key, [value]) }
  const defaults = defaultsOf(ev.subject)
  put('ce-id', newEventId())
  if (ev.source !== defaults?.source) put('ce-source', toHeader(ev.source))
  if (ev.def.type !== defaults?.type) put('ce-type', ev.def.type)
  put('ce-time', ev.time.toISOString())
  if (ev.def.version !== 1) put('ce-dataschema', `jetway:${ev.def.type}:v${ev.def.version}`)
  if (ev.about !== undefined) put('ce-subject', toHeader(ev.about))
  if (ev.actor !== undefined) put('ce-actor', toHeader(ev.actor))
  if (ev.correlationId !== undefined) put('ce-correlationid', toHeader(ev.correlationId))
  if (ev.causationId !== undefined) put('ce-causationid', toHeader(ev.causationId))
  return h
}

/** Appends one event and resolves once JetStream has stored it. */
export async function appendEvent<D extends EventDefinition> (js: JetStreamClient, ev: NewEvent<D>): Promise<Appended> {
  const payload = encoder.encode(JSON.stringify(ev.data))
  try {
    const ack = await js.publish(ev.subject, payload, {
      headers: eventHeaders(ev),
      msgID: ev.idempotencyKey === undefined ? undefined : msgIdOf(ev.idempotencyKey),
      expect: ev.expectLastSubjectSeq === undefined ? undefined : { lastSubjectSequence: ev.expectLastSubjectSeq }
    })
    return { seq: ack.seq, duplicate: ack.duplicate }
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
      throw new VersionConflict()
    }
    throw err
  }
}

const DATASCHEMA = /^jetway:(.+):v(\d+)$/

/** What decodeEvent reads: a consumed JsMsg, or the parts of a directly fetched StoredMsg. */
export interface EventMessage {
  seq: number
  subject: string
  data: Uint8Array
  headers?: { get: (key: string) => string }
}

const decoder = new TextDecoder()

/** Reads the envelope of a stored message; the data is parsed but not yet validated. */
export function decodeEvent (msg: JsMsg | StoredMsg | EventMessage): StoredEvent {
  const h = envelopeOf('header' in msg ? msg.header : msg.headers)
  const schema = DATASCHEMA.exec(h.dataschema)
  const defaults = h.type === '' || h.source === '' ? defaultsOf(msg.subject) : undefined
  return {
    seq: msg.seq,
    natsSubject: msg.subject,
    id: h.id,
    type: h.type === '' ? defaults?.type ?? '' : h.type,
    version: schema === null ? 1 : Number(schema[2]),
    source: (h.source === '' ? defaults?.source : fromHeader(h.source)) ?? '',
    time: h.time,
    about: fromHeader(h.subject),
    actor: fromHeader(h.actor),
    correlationId: fromHeader(h.correlationid),
    causationId: fromHeader(h.causationid),
    data: msg.data.length === 0 ? null : JSON.parse(decoder.decode(msg.data))
  }
}

const ENVELOPE = ['id', 'type', 'source', 'time', 'dataschema', 'subject', 'actor', 'correlationid', 'causationid'] as const
type Envelope = Record<typeof ENVELOPE[number], string>

/**
 * The ce-* headers in one pass over them (the hot path of a replay): nats.js's get() lists
 * and filters every key on each call, ten calls per event. Keys match exactly, as get() does.
 */
function envelopeOf (h: EventMessage['headers'] | Iterable<[string, string[]]> | undefined): Envelope {
  const env: Envelope = { id: '', type: '', source: '', time: '', dataschema: '', subject: '', actor: '', correlationid: '', causationid: '' }
  if (h === undefined) return env
  if (Symbol.iterator in h) {
    for (const [key, values] of h) {
      if (key.startsWith('ce-')) {
        const name = key.slice(3)
        if (Object.hasOwn(env, name)) env[name as keyof Envelope] = values[0] ?? ''
      }
    }
  } else {
    for (const name of ENVELOPE) env[name] = h.get(`ce-${name}`)
  }
  return env
}

/** True when the event's data is valid for its type and version. */
export function isValidEvent (ev: StoredEvent): boolean {
  const def = definitionOf(ev.type, ev.version)
  return def !== undefined && def.check.Check(ev.data)
}

/** Narrows a stored event to one definition, validating its data. */
export function isEvent<D extends EventDefinition> (ev: StoredEvent, def: D): ev is StoredEvent<EventData<D>> {
  return ev.type === def.type && ev.version === def.version && def.check.Check(ev.data)
}
