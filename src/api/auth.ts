import { createVerifier, type DecodedJwt } from 'fast-jwt'
import buildGetJwks from 'get-jwks'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'

// AUTH_MODE=off: nobody is authenticated and the request names the user, as the seeds do.
// AUTH_MODE=jwt: a Bearer JWT (HS256 secret, or RS/ES keys from a JWKS URL) names the user by
// its `sub` (or `email`) claim; `role: "admin"` or `roles: [..."admin"]` may act for others.

export interface Identity {
  /** undefined in off mode */
  userId: string | undefined
  email?: string
  name?: string
  admin: boolean
}

export interface Auth {
  mode: 'off' | 'jwt'
  /** onRequest hook for routes that need a caller */
  authenticate: (request: FastifyRequest) => Promise<void>
  identity: (request: FastifyRequest) => Identity
  /** Throws 403 unless the caller may act for (or read the data of) `userId`. */
  requireUser: (request: FastifyRequest, userId: string) => void
}

const OFF: Identity = { userId: undefined, admin: true }

interface Claims {
  sub?: string
  email?: string
  name?: string
  role?: string
  roles?: string[]
}

export function buildAuth (config: Config['auth']): Auth {
  const identities = new WeakMap<FastifyRequest, Identity>()
  if (config.mode === 'off') {
    return {
      mode: 'off',
      authenticate: async () => {},
      identity: () => OFF,
      requireUser: () => {}
    }
  }
  const verify = makeVerifier(config)
  return {
    mode: 'jwt',
    async authenticate (request) {
      const header = request.headers.authorization ?? ''
      const match = /^Bearer\s+(\S+)$/i.exec(header)
      if (match === null) throw new JetwayError(ErrorCodes.unauthorized, 'missing Bearer token (Authorization: Bearer <jwt>)')
      let claims: Claims
      try {
        claims = await verify(match[1]!)
      } catch (err) {
        throw new JetwayError(ErrorCodes.unauthorized, `invalid token: ${(err as Error).message}`)
      }
      const userId = claims.sub ?? claims.email
      if (typeof userId !== 'string' || userId === '') throw new JetwayError(ErrorCodes.unauthorized, 'token names no user (sub or email claim)')
      const admin = claims.role === 'admin' || (Array.isArray(claims.roles) && claims.roles.includes('admin'))
      identities.set(request, { userId, email: claims.email, name: claims.name, admin })
    },
    identity (request) {
      const id = identities.get(request)
      if (id === undefined) throw new JetwayError(ErrorCodes.unauthorized, 'not authenticated')
      return id
    },
    requireUser (request, userId) {
      const id = this.identity(request)
      if (!id.admin && id.userId !== userId) {
        throw new JetwayError(ErrorCodes.forbidden, `you (${id.userId ?? '?'}) may not act for or read the data of user ${userId}`)
      }
    }
  }
}

function makeVerifier (config: Extract<Config['auth'], { mode: 'jwt' }>): (token: string) => Promise<Claims> {
  const allowedIss = config.issuer === undefined ? undefined : [config.issuer]
  if (config.jwksUrl !== undefined) {
    const url = new URL(config.jwksUrl)
    const jwks = buildGetJwks({ jwksPath: url.pathname, providerDiscovery: false })
    const verifier = createVerifier({
      allowedIss,
      algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256'],
      key: async (decoded: DecodedJwt) => await jwks.getPublicKey({ domain: url.origin, kid: decoded.header.kid, alg: decoded.header.alg })
    })
    return async token => await verifier(token) as Claims
  }
  const verifier = createVerifier({ key: config.secret, algorithms: ['HS256'], allowedIss })
  return async token => verifier(token) as Claims
}
