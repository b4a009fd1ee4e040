import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { ErrorCodes, JetwayError, VersionConflict } from '../lib/errors.js'
import type { Clock } from '../lib/time.js'
import type { Decided, Decision } from '../schema/events/index.js'
import { appendEvent, type StoredEvent } from './events.js'
import { readSubject } from './subject-reader.js'

// The one way an aggregate (a meeting, a task, a job) changes: load its subject in one pass,
// fold it with evolve, let the pure decide() say which event a command appends, append it
// expecting the subject's last sequence, and on a version conflict decide again on the newer
// state (bounded). A decision is one event or none, so it is stored whole or not at all.
// The aggregate's version is the stream sequence of its last event: the ETag; If-Match that
// does not match it is 412.

/** Where one aggregate's events are, and how they fold into its state: what loadState reads. */
export interface Fold<S> {
  stream: string
  /** the subject of one aggregate's events: read in one pass; a decided event goes to it */
  subject: (id: string) => string
  evolve: (state: S | undefined, ev: StoredEvent) => S | undefined
  /**
   * An aggregate spread over subjects of its own (a job's status sits on
   * jobs.status.<userId>.<eventId>, which its request names): the further subjects that the
   * state folded from `subject` says it has, each read in one pass too and folded after it.
   */
  moreSubjects?: (id: string, state: S | undefined) => string[]
  /**
   * Each subject of the aggregate holds one event at most, appended by a decision that expects
   * it empty (a job: its request, its status). Each is then read in one look-up, its last
   * message, and a command first decides without reading moreSubjects, as if they were empty
   * (handleCommand): one round trip instead of two for a job's completion.
   */
  onePerSubject?: boolean
}

export interface Aggregate<S, C> extends Fold<S> {
  /** Pure: the event a command appends (none when nothing changes); throws a JetwayError to refuse. */
  decide: (state: S | undefined, command: C) => Decided
  /**
   * Where a decided event goes (default: `subject`). An append to a subject the aggregate read
   * expects that subject's last sequence; one to a subject it does not read expects nothing.
   */
  subjectOf?: (id: string, decision: Decision, state: S | undefined) => string
  /** the correlation id of its events when the command brings none (a job's: its request's) */
  correlationOf?: (state: S | undefined) => string | undefined
}

export interface CommandMeta<St> {
  source: string
  actor?: string
  correlationId?: string
  /** ce-id of the event that caused the command (a worker's) */
  causationId?: string
  /** If-Match: the version the client saw; another current version is 412 */
  expectedVersion?: number
  /** Nats-Msg-Id of the event appended (creation by Idempotency-Key, a worker's effect) */
  idempotencyKey?: string
  /** CloudEvents subject of the appended event (default: the aggregate id) */
  about?: string
  /** Checks the loaded state before deciding (e.g. who may change it); throws to refuse. */
  guard?: (state: St | undefined) => void
}

export interface CommandResult<St> {
  state: St | undefined
  /** stream sequence of the aggregate's last event; 0 when it has none */
  version: number
  /** the sequence of the event this command appended (none: nothing changed, or a duplicate) */
  appended: number[]
}

export interface CommandStore {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
}

export interface Loaded<St> {
  state: St | undefined
  /** stream sequence of the aggregate's last event; 0 when it has none */
  version: number
  /** the last sequence on each subject read (0: none yet): what an append to it expects */
  lastSeqs: Map<string, number>
}

const MAX_ATTEMPTS = 4

/** An aggregate's state as of `toSeq` (default: now): the one loader of every aggregate and fold. */
export async function loadState<St> (store: Pick<CommandStore, 'js' | 'jsm'>, fold: Fold<St>, id: string, toSeq?: number): Promise<Loaded<St>> {
  return await load(store, fold, id, toSeq, false)
}

/**
 * loadState; with `assumeMoreEmpty` (an aggregate onePerSubject) moreSubjects are not read but
 * taken as empty: listed in `unread`, each with a last sequence of 0, which an append expects.
 */
async function load<St> (store: Pick<CommandStore, 'js' | 'jsm'>, fold: Fold<St>, id: string, toSeq: number | undefined, assumeMoreEmpty: boolean): Promise<Loaded<St> & { unread: string[] }> {
  let state: St | undefined
  let version = 0
  const lastSeqs = new Map<string, number>()
  const one = fold.onePerSubject === true
  const read = async (subjects: string[]): Promise<void> => {
    const lists = await Promise.all(subjects.map(async s => await readSubject(store.js, store.jsm, fold.stream, s, toSeq, one)))
    subjects.forEach((s, i) => lastSeqs.set(s, lists[i]!.at(-1)?.seq ?? 0))
    for (const ev of lists.flat().sort((a, b) => a.seq - b.seq)) {
      state = fold.evolve(state, ev)
      version = Math.max(version, ev.seq)
    }
  }
  await read([fold.subject(id)])
  const more = fold.moreSubjects?.(id, state) ?? []
  if (assumeMoreEmpty) {
    for (const s of more) lastSeqs.set(s, 0)
    return { state, version, lastSeqs, unread: more }
  }
  if (more.length > 0) await read(more)
  return { state, version, lastSeqs, unread: [] }
}

export async function handleCommand<St, C> (store: CommandStore, aggregate: Aggregate<St, C>, id: string, command: C, meta: CommandMeta<St>): Promise<CommandResult<St>> {
  // An aggregate onePerSubject decides first on its main subject alone (moreSubjects taken as
  // empty). A decision that appends to one of those expects it empty, so the server refuses it
  // when it is not (a conflict: decided again on everything read). Any other outcome (nothing
  // to do, another subject, a refusal) is not taken on a partial state: it is decided again
  // once everything is read. Not with If-Match or a guard, which judge the whole state.
  let partial = aggregate.onePerSubject === true && meta.expectedVersion === undefined && meta.guard === undefined
  for (let attempt = 1; ; attempt++) {
    const { state, version, lastSeqs, unread } = await load(store, aggregate, id, undefined, partial)
    partial = false
    meta.guard?.(state)
    if (meta.expectedVersion !== undefined && meta.expectedVersion !== version) {
      throw new JetwayError(ErrorCodes.preconditionFailed, `the resource is at version ${version}, not ${meta.expectedVersion}`)
    }
    let decided: Decided
    try {
      decided = aggregate.decide(state, command)
    } catch (err) {
      if (unread.length === 0) throw err
      attempt--
      continue
    }
    // the type allows one event at most; a decider that returns more anyway is refused before
    // anything is appended, never stored in part
    if (decided.length > 1) throw new Error(`a command on ${aggregate.subject(id)} decided ${decided.length} events; a decision is one event at most`)
    const d = decided[0]
    const subject = d === undefined ? undefined : aggregate.subjectOf?.(id, d, state) ?? aggregate.subject(id)
    if (unread.length > 0 && (subject === undefined || !unread.includes(subject))) {
      attempt--
      continue
    }
    if (d === undefined || subject === undefined) return { state, version, appended: [] }
    const envelope = {
      source: meta.source,
      about: meta.about ?? id,
      actor: meta.actor,
      correlationId: meta.correlationId ?? aggregate.correlationOf?.(state),
      causationId: meta.causationId,
      time: store.clock.now()
    }
    try {
      const result = await appendEvent(store.js, {
        def: d.def,
        data: d.data,
        subject,
        ...envelope,
        idempotencyKey: meta.idempotencyKey,
        expectLastSubjectSeq: lastSeqs.get(subject)
      })
      // the same Idempotency-Key inside the duplicate window: what is stored answers, not this body
      if (result.duplicate) {
        const stored = await loadState(store, aggregate, id)
        return { state: stored.state, version: stored.version, appended: [] }
      }
      const ev: StoredEvent = { seq: result.seq, natsSubject: subject, id: '', type: d.def.type, version: d.def.version, ...envelope, time: envelope.time.toISOString(), data: d.data }
      return { state: aggregate.evolve(state, ev), version: result.seq, appended: [result.seq] }
    } catch (err) {
      if (!(err instanceof VersionConflict)) throw err
      // someone else wrote first: with If-Match that is the client's precondition failing;
      // without one, decide again on the newer state
      if (meta.expectedVersion !== undefined) throw new JetwayError(ErrorCodes.preconditionFailed, 'the resource changed since the version you sent')
      if (attempt >= MAX_ATTEMPTS) throw err
    }
  }
}
