import type { FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import type { Runtime } from '../runtime.js'

// Read-your-writes. Every write answers with the stream sequence of its event in the
// `Jetway-Seq` header; a read that sends it back (same header, or ?min_seq=) waits, bounded
// by READ_WAIT, until the projection it reads has applied that sequence.

export const SEQ_HEADER = 'jetway-seq'

export function sendSeq (reply: FastifyReply, seq: number): void {
  reply.header(SEQ_HEADER, String(seq))
}

export async function waitForProjection (runtime: Runtime, projection: string, request: FastifyRequest, minSeq: number | undefined): Promise<void> {
  const header = request.headers[SEQ_HEADER]
  let seq = minSeq
  if (seq === undefined && typeof header === 'string') {
    if (!/^\d{1,16}$/.test(header)) throw new JetwayError(ErrorCodes.validation, 'Jetway-Seq must be a stream sequence number', [{ field: 'Jetway-Seq', message: 'must be an integer' }])
    seq = Number(header)
  }
  const runner = runtime.projections.get(projection)
  if (seq === undefined || runner === undefined) return
  if (!(await runner.waitFor(seq, runtime.config.readWaitMs))) {
    throw new JetwayError(ErrorCodes.notCaughtUp, `read model ${projection} has not applied sequence ${seq} yet (at ${runner.appliedSeq}); retry`)
  }
}
