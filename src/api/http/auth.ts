import { createVerifier, type DecodedJwt } from 'fast-jwt'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'
import { ErrorCodes, JetwayError } from '../../lib/errors.js'
import { Jwks } from './jwks.js'

// AUTH_MODE=off: nobody is authenticated and the request names the user, as the seeds do.
// AUTH_MODE=jwt: a Bearer JWT (HS256 secret, or RS/ES keys from a JWKS URL) names the user by
// its `sub` (or `email`) claim; `role: "admin"` or `roles: [..."admin"]` may act for others.
// Every token must carry `exp`; `aud` and `iss` are checked when JWT_AUDIENCE / JWT_ISSUER are set.

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
  /**
   * jwt mode: a valid Bearer token whose role(s) include one of `roles` (401 without a valid
   * token, 403 without the role); a machine's token need not name a user. Off mode: no check.
   */
  requireRole: (request: FastifyRequest, roles: readonly string[]) => Promise<void>
  /**
   * The user a valid Bearer token (the header, else ?access_token=) names, or undefined (off
   * mode, no token, a bad one, or one naming no user); never throws. Its check is kept for
   * the route's own authenticate, so the rate limiter, which asks first, costs no second one.
   */
  subject: (request: FastifyRequest) => Promise<string | undefined>
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
      requireUser: () => {},
      requireRole: async () => {},
      subject: async () => undefined
    }
  }
  const verify = makeVerifier(config)
  /** the verification of each request's token, by the token (an SSE route may move ?access_token= into the header) */
  const checked = new WeakMap<FastifyRequest, { token: string, claims: Promise<Claims> }>()
  function verifyOnce (request: FastifyRequest, token: string): Promise<Claims> {
    const seen = checked.get(request)
    if (seen?.token === token) return seen.claims
    const claims = verify(token)
    checked.set(request, { token, claims })
    return claims
  }
  async function claimsOf (request: FastifyRequest): Promise<Claims> {
    const header = request.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    if (match === null) throw new JetwayError(ErrorCodes.unauthorized, 'missing Bearer token (Authorization: Bearer <jwt>)')
    try {
      return await verifyOnce(request, match[1]!)
    } catch (err) {
      throw new JetwayError(ErrorCodes.unauthorized, `invalid token: ${(err as Error).message}`)
    }
  }
  return {
    mode: 'jwt',
    async authenticate (request) {
      const claims = await claimsOf(request)
      const userId = claims.sub ?? claims.email
      if (typeof userId !== 'string' || userId === '') throw new JetwayError(ErrorCodes.unauthorized, 'token names no user (sub or email claim)')
      identities.set(request, { userId, email: claims.email, name: claims.name, admin: rolesOf(claims).includes('admin') })
    },
    async requireRole (request, roles) {
      const held = rolesOf(await claimsOf(request))
      if (!roles.some(r => held.includes(r))) throw new JetwayError(ErrorCodes.forbidden, `this needs a token with role ${roles.join(' or ')}`)
    },
    async subject (request) {
      const header = request.headers.authorization
      const query = (request.query as Record<string, unknown> | undefined)?.access_token
      const token = header === undefined ? (typeof query === 'string' ? query : undefined) : /^Bearer\s+(\S+)$/i.exec(header)?.[1]
      if (token === undefined) return undefined
      try {
        const claims = await verifyOnce(request, token)
        const userId = claims.sub ?? claims.email
        return typeof userId === 'string' && userId !== '' ? userId : undefined
      } catch {
        return undefined
      }
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

function rolesOf (claims: Claims): string[] {
  return [...(typeof claims.role === 'string' ? [claims.role] : []), ...(Array.isArray(claims.roles) ? claims.roles.filter(r => typeof r === 'string') : [])]
}

function makeVerifier (config: Extract<Config['auth'], { mode: 'jwt' }>): (token: string) => Promise<Claims> {
  const checks = {
    // A token without an expiry would be valid forever. fast-jwt checks aud and iss only when
    // the token has them, so a configured audience or issuer makes its claim required too.
    requiredClaims: ['exp', ...(config.audience === undefined ? [] : ['aud']), ...(config.issuer === undefined ? [] : ['iss'])],
    allowedIss: config.issuer === undefined ? undefined : [config.issuer],
    allowedAud: config.audience
  }
  if (config.jwksUrl !== undefined) {
    const jwks = new Jwks({ url: config.jwksUrl })
    const verifier = createVerifier({
      ...checks,
      algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256'],
      key: async (decoded: DecodedJwt) => await jwks.keyFor(decoded.header.kid, decoded.header.alg)
    })
    return async token => await verifier(token) as Claims
  }
  const verifier = createVerifier({ ...checks, key: config.secret, algorithms: ['HS256'] })
  return async token => verifier(token) as Claims
}
