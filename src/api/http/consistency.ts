import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import type { Runtime } from '../../runtime.js'

// Read-your-writes. Every write answers with its event's place in the `Jetway-Seq` header,
// `<STREAM>:<sequence>` (e.g. `COLLECT:42`). A read that sends it back (the same header, or
// ?min_seq=) waits, bounded by READ_WAIT, until the read model fed by that stream has applied
// it; a bare number means the stream of the route's own read model. The wait reads the
// checkpoints in the read models' database, so it holds in every role split (an `api`-only
// process waits on the checkpoints a `projections` process commits) and on every instance of
// a fleet sharing a PostgreSQL, and a read model being rebuilt is never taken for a current one. A sequence that cannot be waited for is answered at once.

export const SEQ_HEADER = 'jetway-seq'

const TOKEN = /^(?:([A-Za-z0-9_-]{1,64}):)?(\d{1,16})$/

export interface SeqRef {
  /** undefined: the stream of the route's read model */
  stream: string | undefined
  seq: number
  /** where it came from, as a client would name it in a problem's `errors` */
  field: 'min_seq' | 'Jetway-Seq'
}

export function sendSeq (reply: FastifyReply, stream: string, seq: number): void {
  reply.header(SEQ_HEADER, `${stream}:${seq}`)
}

function invalid (field: SeqRef['field'], message: string): JetwayError {
  return new JetwayError(ErrorCodes.validation, `${field} ${message}`, [{ field, message }])
}

/** `<STREAM>:<sequence>` or a bare sequence (a number from a JSON body, or text). */
export function parseSeq (value: unknown, field: SeqRef['field']): SeqRef {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(field, 'must be a stream sequence (a non-negative integer below 2^53)')
    return { stream: undefined, seq: value, field }
  }
  const match = typeof value === 'string' ? TOKEN.exec(value.trim()) : null
  if (match === null) throw invalid(field, 'must be <STREAM>:<sequence> as a write answered it in jetway-seq, or a sequence number')
  const seq = Number(match[2])
  if (!Number.isSafeInteger(seq)) throw invalid(field, 'must be a stream sequence below 2^53')
  return { stream: match[1], seq, field }
}

/** The sequence a read asks for: ?min_seq= (or the body's) first, else the Jetway-Seq header. */
export function seqOf (request: FastifyRequest, minSeq: number | string | undefined): SeqRef | undefined {
  if (minSeq !== undefined) return parseSeq(minSeq, 'min_seq')
  const header = request.headers[SEQ_HEADER]
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw invalid('Jetway-Seq', 'must be sent once')
  return parseSeq(header, 'Jetway-Seq')
}

/**
 * Before a read of `projection`: waits until it is current (not being rebuilt) and, when the
 * request names a sequence, until the read model of that sequence's stream has applied it.
 * 400 for a malformed sequence or a stream no read model reads; 412 for a sequence past the
 * stream's end (no write answered it, so waiting could not help); 503 with Retry-After when
 * READ_WAIT runs out first.
 */
export async function waitForProjection (runtime: Runtime, projection: string, request: FastifyRequest, minSeq?: number | string): Promise<void> {
  const { readModels, config } = runtime
  const ref = seqOf(request, minSeq)
  const own = readModels.byName(projection)
  if (own === undefined) throw new Error(`no projection named ${projection}`)
  const stream = ref?.stream ?? own.stream
  const fed = stream === own.stream ? [own] : readModels.ofStream(stream)
  if (fed.length === 0) {
    throw invalid(ref!.field, `names stream ${stream}, which no read model reads (known: ${[...new Set(readModels.projections.map(p => p.stream))].join(', ')})`)
  }
  const deadline = Date.now() + config.readWaitMs
  if (ref !== undefined) {
    const states = await Promise.all(fed.map(async p => await readModels.state(p.name)))
    if (states.some(s => s.appliedSeq < ref.seq)) {
      const holds = await readModels.holds(stream, ref.seq).catch(() => true) // NATS away: wait, bounded
      if (!holds) {
        throw new JetwayError(ErrorCodes.preconditionFailed,
          `${ref.field} ${stream}:${ref.seq} is past the end of stream ${stream}: no write has been answered with it`,
          [{ field: ref.field, message: `is past the end of stream ${stream}` }])
      }
    }
  }
  // the route's own read model must be current too, when the sequence is another stream's
  const waits = fed.map(p => ({ name: p.name, seq: ref?.seq }))
  if (!fed.includes(own)) waits.push({ name: own.name, seq: undefined })
  for (const w of waits) {
    const result = await readModels.waitFor(w.name, w.seq, Math.max(0, deadline - Date.now()))
    if (result.ok) continue
    const { state } = result
    throw new JetwayError(ErrorCodes.notCaughtUp, state.rebuilding
      ? `read model ${w.name} is being rebuilt (at ${state.stream}:${state.appliedSeq}); retry`
      : `read model ${w.name} has not applied ${state.stream}:${w.seq ?? 0} yet (at ${state.stream}:${state.appliedSeq}); retry`)
  }
}
