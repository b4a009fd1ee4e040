import { Webhook } from 'standardwebhooks'

// Standard Webhooks signatures (https://www.standardwebhooks.com): receivers check them with
// `new Webhook(secret).verify(body, headers)` from the same `standardwebhooks` package, or any
// implementation of the spec.

export interface WebhookHeaders {
  /** the message id: the same on every retry of one delivery, so receivers can dedupe */
  'webhook-id': string
  /** seconds since the epoch, taken at each attempt (receivers refuse one older than 5 minutes) */
  'webhook-timestamp': string
  /** `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` */
  'webhook-signature': string
}

/** `whsec_` and the key in padded base64, as WEBHOOK_SECRET takes it. */
export const WEBHOOK_SECRET_PATTERN = '^whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$'
const SECRET = new RegExp(WEBHOOK_SECRET_PATTERN)

export function isWebhookSecret (secret: string): boolean {
  return SECRET.test(secret)
}

/** Bytes of key a `whsec_…` secret holds (the spec asks for 24 to 64). */
export function webhookKeyBytes (secret: string): number {
  return Buffer.from(secret.slice('whsec_'.length), 'base64').length
}

/**
 * The three headers of one signed attempt. The body must be the exact bytes sent; a Buffer is
 * signed as its UTF-8 text (what `standardwebhooks` does on both ends), so sign text bodies.
 */
export function signedHeaders (secret: string, id: string, timestamp: Date, body: string | Buffer): WebhookHeaders {
  if (!isWebhookSecret(secret)) throw new TypeError('a webhook secret is whsec_ followed by base64')
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, timestamp, body)
  }
}
