import { createHmac, randomBytes } from 'node:crypto'
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { JetwayError, ErrorCodes } from './errors.js'

// How an erasure names a user without personal data: a keyed hash of the user id
// (HMAC-SHA256, base64url), the "user key". The key is ERASURE_KEY when set (kept outside NATS
// and its backups, so that whoever reads the ERASURES stream cannot test a guessed user id
// against it); else one made once and kept in stream ERASURES (subject erasure.key), so every
// instance of a fleet and every restore of a backup hashes alike. Either way the stream records
// the key's id, and a start with another key is refused: the recorded erasures could no longer
// be matched, nor their suppressions kept.

export const KEY_SUBJECT = 'erasure.key'
const KEY_STREAM = 'ERASURES'

/** What stream ERASURES keeps on erasure.key. */
interface KeyRecord {
  keyId: string
  /** the key itself, base64url, when Jetway made it (no ERASURE_KEY) */
  secret?: string
}

export class ErasureKeyError extends Error {
  readonly code = 'JETWAY_ERASURE_KEY'
}

/** The keyed hash of user ids that erasures and suppressions record. */
export class UserKeys {
  readonly keyId: string
  private readonly key: Buffer

  constructor (key: Buffer) {
    this.key = key
    this.keyId = keyIdOf(key)
  }

  /** The user key of a user id: HMAC-SHA256(key, user id), base64url (43 characters). */
  of (userId: string): string {
    return createHmac('sha256', this.key).update(userId, 'utf8').digest('base64url')
  }
}

function keyIdOf (key: Buffer): string {
  return createHmac('sha256', key).update('jetway erasure key id').digest('base64url').slice(0, 16)
}

const decoder = new TextDecoder()

/**
 * The key erasures use: ERASURE_KEY, or the one kept in ERASURES (made now if there is none).
 * Throws ErasureKeyError when ERASURE_KEY is not the key the recorded erasures were made with.
 */
export async function loadUserKeys (configured: string | undefined, js: JetStreamClient, jsm: JetStreamManager): Promise<UserKeys> {
  for (let round = 0; round < 3; round++) {
    const stored = await jsm.streams.getMessage(KEY_STREAM, { last_by_subj: KEY_SUBJECT })
    const record = stored === null ? undefined : JSON.parse(decoder.decode(stored.data)) as KeyRecord
    if (configured !== undefined) {
      const keys = new UserKeys(Buffer.from(configured, 'utf8'))
      if (record === undefined) {
        if (await publishFirst(js, { keyId: keys.keyId })) return keys
        continue
      }
      if (record.keyId !== keys.keyId) {
        throw new ErasureKeyError(`ERASURE_KEY is not the key the erasures in stream ERASURES were recorded with (key id ${record.keyId}, this key's ${keys.keyId}): ` +
          (record.secret !== undefined
            ? 'they use the key Jetway made and kept on erasure.key (nats stream get ERASURES --last-for erasure.key): set ERASURE_KEY to that key, or unset it'
            : 'set ERASURE_KEY back to that key'))
      }
      return keys
    }
    if (record?.secret !== undefined) return new UserKeys(Buffer.from(record.secret, 'base64url'))
    if (record !== undefined) {
      throw new ErasureKeyError(`the erasures in stream ERASURES were recorded with ERASURE_KEY (key id ${record.keyId}); set ERASURE_KEY to it`)
    }
    const secret = randomBytes(32)
    if (await publishFirst(js, { keyId: keyIdOf(secret), secret: secret.toString('base64url') })) return new UserKeys(secret)
  }
  throw new JetwayError(ErrorCodes.unavailable, 'could not settle the erasure key in stream ERASURES')
}

/** Appends the key record expecting none yet; false when another instance was first. */
async function publishFirst (js: JetStreamClient, record: KeyRecord): Promise<boolean> {
  try {
    await js.publish(KEY_SUBJECT, JSON.stringify(record), { expect: { lastSubjectSequence: 0 } })
    return true
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) return false
    throw err
  }
}
