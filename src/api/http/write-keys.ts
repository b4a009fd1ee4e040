import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'

// The write keys of the analytics SDK routes (COLLECT_WRITE_KEYS), as Segment takes them: the
// HTTP Basic user name (password empty; a key encoded without the colon works too), else
// `writeKey` in the body. A key is looked up by its SHA-256, so the look-up takes the same
// time however much of a wrong key matches, and the event's actor names the key by a short
// hash of it, never by the key.

export interface WriteKeys {
  /** whether any key is configured (none: every request is accepted) */
  readonly configured: boolean
  /** The actor a request's key stands for (undefined with no keys configured); 401 otherwise. */
  check: (request: FastifyRequest, bodyKey: unknown) => string | undefined
}

const BASIC = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i

const digest = (key: string): string => createHash('sha256').update(key).digest('hex')

/** The user name of an HTTP Basic Authorization header, if the request has one. */
export function basicUser (header: string | undefined): string | undefined {
  const match = BASIC.exec(header ?? '')
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const user = colon < 0 ? decoded : decoded.slice(0, colon)
  return user === '' ? undefined : user
}

export function writeKeys (keys: readonly string[]): WriteKeys {
  const actors = new Map(keys.map(k => { const d = digest(k); return [d, `write-key:${d.slice(0, 8)}`] }))
  return {
    configured: actors.size > 0,
    check (request, bodyKey) {
      if (actors.size === 0) return undefined
      const key = basicUser(request.headers.authorization) ?? (typeof bodyKey === 'string' && bodyKey !== '' ? bodyKey : undefined)
      if (key === undefined) {
        throw new JetwayError(ErrorCodes.unauthorized, 'no write key: send it as the HTTP Basic user name (password empty), or as writeKey in the body')
      }
      const actor = actors.get(digest(key))
      if (actor === undefined) throw new JetwayError(ErrorCodes.unauthorized, 'unknown write key (COLLECT_WRITE_KEYS lists the keys this service takes)')
      return actor
    }
  }
}
