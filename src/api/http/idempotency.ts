import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'

// The Idempotency-Key header, one rule for every route that takes it: 1 to 255 characters of
// printable ASCII (space to `~`), taken whole. A retry with the same key names the same
// resource, so its event's Nats-Msg-Id is the same and JetStream stores it once; a route turns
// the key into that resource's id with idForKey, scoped so that another route or another
// caller with the same key gets another id.

export const IDEMPOTENCY_KEY_MAX = 255
const KEY = new RegExp(`^[\\x20-\\x7E]{1,${IDEMPOTENCY_KEY_MAX}}$`)
const RULE = `must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters`

/** The request's Idempotency-Key: undefined without one, a 400 naming the header when it breaks the rule. */
export function idempotencyKeyOf (request: FastifyRequest): string | undefined {
  const key = request.headers['idempotency-key']
  if (key === undefined) return undefined
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new JetwayError(ErrorCodes.validation, `Idempotency-Key ${RULE}`, [{ field: 'Idempotency-Key', message: RULE }])
  }
  return key
}

/** The shape of the id a route answers: a UUID (jobs), 32 hex digits (tasks, meetings), 32 base64url characters (relay requests). */
export type IdShape = 'uuid' | 'hex' | 'base64url'

/**
 * The id of what a key creates: SHA-256 of the route, the caller's scope (the user it is for)
 * and the whole key, so keys that differ anywhere, or the same key on two routes or for two
 * users, name two things.
 */
export function idForKey (route: string, scope: string, key: string, shape: IdShape): string {
  const digest = createHash('sha256').update(JSON.stringify([route, scope, key])).digest()
  if (shape === 'base64url') return digest.toString('base64url').slice(0, 32)
  const h = digest.toString('hex')
  if (shape === 'hex') return h.slice(0, 32)
  // an RFC 9562 version 8 (custom) UUID, so it has the shape of the random ones issued without a key
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}
