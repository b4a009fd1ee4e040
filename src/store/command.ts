import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import type { Clock } from '../lib/time.js'
import type { Decision } from '../schema/events/index.js'
import { appendEvent, type StoredEvent } from './events.js'
import { readSubject } from './subject-reader.js'

// The one way an aggregate (a meeting, a task) changes: load its subject in one pass, fold it
// with evolve, let the pure decide() say which events a command appends, append them expecting
// the subject's last sequence, and on a conflict decide again on the newer state (bounded).
// The aggregate's version is the stream sequence of its last event: the ETag; If-Match that
// does not match it is 412.

export interface Aggregate<S, C> {
  stream: string
  subject: (id: string) => string
  evolve: (state: S | undefined, ev: StoredEvent) => S | undefined
  /** Pure: the events a command appends (none when nothing changes); throws a JetwayError to refuse. */
  decide: (state: S | undefined, command: C) => Decision[]
}

export interface CommandMeta<St> {
  source: string
  actor?: string
  correlationId?: string
  /** If-Match: the version the client saw; another current version is 412 */
  expectedVersion?: number
  /** Nats-Msg-Id of the first event appended (creation by Idempotency-Key) */
  idempotencyKey?: string
  /** CloudEvents subject of the appended events (default: the aggregate id) */
  about?: string
  /** Checks the loaded state before deciding (e.g. who may change it); throws to refuse. */
  guard?: (state: St | undefined) => void
}

export interface CommandResult<St> {
  state: St | undefined
  /** stream sequence of the aggregate's last event; 0 when it has none */
  version: number
  /** sequences of the events this command appended (none: nothing changed, or a duplicate) */
  appended: number[]
}

export interface CommandStore {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
}

const MAX_ATTEMPTS = 4

export async function loadState<St, C> (store: CommandStore, aggregate: Aggregate<St, C>, id: string, toSeq?: number): Promise<{ state: St | undefined, version: number }> {
  let state: St | undefined
  let version = 0
  for (const ev of await readSubject(store.js, store.jsm, aggregate.stream, aggregate.subject(id), toSeq)) {
    state = aggregate.evolve(state, ev)
    version = ev.seq
  }
  return { state, version }
}

export async function handleCommand<St, C> (store: CommandStore, aggregate: Aggregate<St, C>, id: string, command: C, meta: CommandMeta<St>): Promise<CommandResult<St>> {
  const subject = aggregate.subject(id)
  for (let attempt = 1; ; attempt++) {
    let { state, version } = await loadState(store, aggregate, id)
    meta.guard?.(state)
    if (meta.expectedVersion !== undefined && meta.expectedVersion !== version) {
      throw new JetwayError(ErrorCodes.preconditionFailed, `the resource is at version ${version}, not ${meta.expectedVersion}`)
    }
    const decisions = aggregate.decide(state, command)
    const appended: number[] = []
    try {
      for (const [i, d] of decisions.entries()) {
        const time = store.clock.now()
        const result = await appendEvent(store.js, {
          def: d.def,
          data: d.data,
          subject,
          source: meta.source,
          about: meta.about ?? id,
          actor: meta.actor,
          correlationId: meta.correlationId,
          idempotencyKey: i === 0 ? meta.idempotencyKey : undefined,
          expectLastSubjectSeq: version,
          time
        })
        // the same Idempotency-Key inside the duplicate window: what is stored answers, not this body
        if (result.duplicate) return { ...(await loadState(store, aggregate, id)), appended }
        appended.push(result.seq)
        state = aggregate.evolve(state, { seq: result.seq, natsSubject: subject, id: '', type: d.def.type, version: d.def.version, source: meta.source, time: time.toISOString(), data: d.data })
        version = result.seq
      }
      return { state, version, appended }
    } catch (err) {
      if (!(err instanceof JetwayError) || err.code !== ErrorCodes.conflict || appended.length > 0) throw err
      // someone else wrote first: with If-Match that is the client's precondition failing;
      // without one, decide again on the newer state
      if (meta.expectedVersion !== undefined) throw new JetwayError(ErrorCodes.preconditionFailed, 'the resource changed since the version you sent')
      if (attempt >= MAX_ATTEMPTS) throw err
    }
  }
}
