import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// The credentials of a task, all HMAC-SHA256 with one secret (TASK_TOKEN_SECRET, shared by a
// fleet; without it, a random secret made once in DATA_DIR). Each is checked by recomputing
// its MAC: no token is stored, and nothing secret is inside a token.
//
//   task token      t1.<taskId>.<mac>            mac over "jetway/task-token/v1", taskId
//                   completes the task (success, failure, heartbeat): for the system that waits
//   approval token  a1.<taskId>.<i>.<mac>        mac over "jetway/approval/v1", taskId, i, email
//                   the link in approver i's email: the page may approve or reject, as that person
//   form token      <issuedAt>.<mac>             mac over "jetway/approval-form/v1", approval token, issuedAt
//                   the approval form's hidden field: a POST must come from a page this server
//                   rendered within FORM_TOKEN_TTL_MS (a bare POST to the link is refused)
//
// <mac> is the 256-bit MAC in base64url (43 characters), so every token is URL-safe, about 80
// characters long, and unguessable. The parts are separated by "\n", which no part may hold.

const MAC = '[A-Za-z0-9_-]{43}'
const ID = '[A-Za-z0-9_-]{1,64}'
const TASK_TOKEN = new RegExp(`^t1\\.(${ID})\\.(${MAC})$`)
const APPROVAL_TOKEN = new RegExp(`^a1\\.(${ID})\\.(\\d{1,3})\\.(${MAC})$`)
const FORM_TOKEN = new RegExp(`^([0-9a-z]{1,12})\\.(${MAC})$`)

/** how long a rendered approval form may be submitted */
export const FORM_TOKEN_TTL_MS = 24 * 3600_000

function mac (secret: string, ...parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\n')).digest('base64url')
}

function same (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function taskToken (secret: string, taskId: string): string {
  return `t1.${taskId}.${mac(secret, 'jetway/task-token/v1', taskId)}`
}

export type TokenCheck = { ok: true, taskId: string } | { ok: false, reason: 'malformed' | 'forged' }

/** The task a token names, when its MAC is right. */
export function verifyTaskToken (secret: string, token: string): TokenCheck {
  const m = TASK_TOKEN.exec(token)
  if (m === null) return { ok: false, reason: 'malformed' }
  const [, taskId, given] = m as unknown as [string, string, string]
  return same(given, mac(secret, 'jetway/task-token/v1', taskId)) ? { ok: true, taskId } : { ok: false, reason: 'forged' }
}

export function approvalToken (secret: string, taskId: string, index: number, email: string): string {
  return `a1.${taskId}.${index}.${mac(secret, 'jetway/approval/v1', taskId, String(index), email.toLowerCase())}`
}

export interface ApprovalClaim {
  taskId: string
  index: number
  /** checks the MAC against the email the task lists at `index` */
  verify: (email: string | undefined) => boolean
}

/** The task and approver index an approval token claims; verify() once the task's approvers are known. */
export function parseApprovalToken (secret: string, token: string): ApprovalClaim | undefined {
  const m = APPROVAL_TOKEN.exec(token)
  if (m === null) return undefined
  const [, taskId, index, given] = m as unknown as [string, string, string, string]
  return {
    taskId,
    index: Number(index),
    verify: email => email !== undefined && same(given, mac(secret, 'jetway/approval/v1', taskId, String(Number(index)), email.toLowerCase()))
  }
}

export function formToken (secret: string, approval: string, now: number): string {
  const issued = now.toString(36)
  return `${issued}.${mac(secret, 'jetway/approval-form/v1', approval, issued)}`
}

export function verifyFormToken (secret: string, approval: string, token: string, now: number): boolean {
  const m = FORM_TOKEN.exec(token)
  if (m === null) return false
  const [, issued, given] = m as unknown as [string, string, string]
  const age = now - parseInt(issued, 36)
  return age >= -60_000 && age <= FORM_TOKEN_TTL_MS && same(given, mac(secret, 'jetway/approval-form/v1', approval, issued))
}

const secrets = new Map<string, string>()

/**
 * TASK_TOKEN_SECRET, or the secret kept in DATA_DIR/task-token.secret, made once (atomically,
 * so processes sharing a data dir agree). A fleet on several machines must set the variable.
 */
export function taskSecret (config: { dataDir: string, tasks: { tokenSecret: string | undefined } }): string {
  if (config.tasks.tokenSecret !== undefined) return config.tasks.tokenSecret
  const file = join(config.dataDir, 'task-token.secret')
  const known = secrets.get(file)
  if (known !== undefined) return known
  let secret: string
  try {
    secret = readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    mkdirSync(config.dataDir, { recursive: true })
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(temp, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 })
    try {
      linkSync(temp, file) // fails if another process made it first: then its secret wins
    } catch (linkErr) {
      if ((linkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw linkErr
    } finally {
      rmSync(temp, { force: true })
    }
    secret = readFileSync(file, 'utf8').trim()
  }
  secrets.set(file, secret)
  return secret
}
