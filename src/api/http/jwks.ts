import { createPublicKey, type JsonWebKey } from 'node:crypto'
import type { Clock } from '../../lib/time.js'

// The public keys of a JWKS URL, for verifying tokens. A token names its key by `kid`, and
// anyone can send a token with a kid of their choosing, so the key set is cached whole:
// a known kid costs no fetch (until the set is `maxAgeMs` old, then one refresh); an unknown
// kid is a miss, and misses cause at most one fetch per `missCooldownMs`, however many random
// kids arrive. A fetch reads the whole set, so a key rotated in is found by the next fetch
// whichever token caused it. A failed refresh keeps the keys already known.

export interface JwksOptions {
  url: string
  /** refresh a set this old when a token needs one of its keys; default 10 minutes */
  maxAgeMs?: number
  /** after a fetch, unknown kids are refused without fetching for this long; default 30 s */
  missCooldownMs?: number
  /** fetch timeout; default 5 s */
  timeoutMs?: number
  clock?: Clock
}

interface Key {
  pem: string
  alg: string | undefined
}

export class JwksError extends Error {
  override name = 'JwksError'
}

export class Jwks {
  /** fetches of the URL so far (tests, metrics) */
  fetches = 0
  private keys = new Map<string, Key>()
  private fetchedAt = -Infinity
  private refreshing: Promise<void> | undefined
  private readonly maxAgeMs: number
  private readonly missCooldownMs: number
  private readonly timeoutMs: number
  private readonly now: () => number

  constructor (private readonly opts: JwksOptions) {
    this.maxAgeMs = opts.maxAgeMs ?? 10 * 60_000
    this.missCooldownMs = opts.missCooldownMs ?? 30_000
    this.timeoutMs = opts.timeoutMs ?? 5000
    const clock = opts.clock
    this.now = clock === undefined ? Date.now : () => clock.now().getTime()
  }

  /** The PEM public key for a token's header; throws JwksError when there is none. */
  async keyFor (kid: unknown, alg: unknown): Promise<string> {
    if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 256)) throw new JwksError('the token names no usable key (kid)')
    const name = kid ?? ''
    const age = this.now() - this.fetchedAt
    const known = this.keys.get(name)
    if ((known !== undefined && age >= this.maxAgeMs) || (known === undefined && age >= this.missCooldownMs)) {
      await this.refresh().catch(() => {})
    }
    const key = this.keys.get(name)
    if (key === undefined) throw new JwksError(kid === undefined ? 'the token names no key (kid) and the JWKS has no key without one' : 'no key with the token\'s kid in the JWKS')
    if (key.alg !== undefined && key.alg !== alg) throw new JwksError('the token\'s alg is not its key\'s')
    return key.pem
  }

  private async refresh (): Promise<void> {
    // one fetch at a time; concurrent callers share it
    this.refreshing ??= this.fetchKeys().finally(() => { this.refreshing = undefined })
    await this.refreshing
  }

  private async fetchKeys (): Promise<void> {
    this.fetches++
    // a failed fetch also starts the cooldown: an unreachable JWKS is not asked on every request
    this.fetchedAt = this.now()
    const response = await fetch(this.opts.url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } })
    if (!response.ok) throw new JwksError(`JWKS answered ${response.status}`)
    const body = await response.json() as { keys?: unknown }
    if (!Array.isArray(body.keys)) throw new JwksError('JWKS has no keys')
    const keys = new Map<string, Key>()
    for (const jwk of body.keys as (JsonWebKey & { kid?: unknown, alg?: unknown, use?: unknown })[]) {
      if (typeof jwk !== 'object' || jwk === null || (jwk.use !== undefined && jwk.use !== 'sig')) continue
      try {
        const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
        keys.set(typeof jwk.kid === 'string' ? jwk.kid : '', { pem, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined })
      } catch {
        // a key this runtime cannot read (an unknown kty) is skipped, not fatal
      }
    }
    this.keys = keys
  }
}
