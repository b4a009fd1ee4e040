import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { formatDuration, parseDuration } from '../lib/duration.js'

// When a JetStream acknowledgement is on disk. A publish is acknowledged once the server has
// written it to its file, not once the file is fsynced: JetStream fsyncs every 2 minutes by
// default, so an OS crash or a power loss loses what was acknowledged since (Jepsen, NATS
// 2.12.1, December 2025). `sync_interval: always` (nats-server 2.10 and later, PR 4483) fsyncs
// each write before its acknowledgement. This module decides what the embedded nats-server is
// told, from its version and NATS_SYNC, and says what that guarantees.

/** NATS_SYNC: `always`, a duration, or `default` (JetStream's own: every 2 minutes); unset: always where the server has it. */
export type NatsSync = { mode: 'auto' } | { mode: 'always' } | { mode: 'default' } | { mode: 'interval', ms: number }

export interface Durability {
  /** always: each acknowledged write is fsynced first; interval: fsynced every `syncInterval`; external: set by the server at NATS_URL */
  mode: 'always' | 'interval' | 'external'
  /** the fsync interval in force (nats-server's default is 2m); absent for always and external */
  syncInterval?: string
  /** the nats-server's version, when known */
  server: string
  /** what an OS crash or power loss can lose, in a sentence */
  note: string
}

/** JetStream's default fsync interval. */
export const DEFAULT_SYNC_MS = 120_000

export function parseNatsSync (text: string | undefined): NatsSync {
  if (text === undefined) return { mode: 'auto' }
  if (text === 'always' || text === 'default') return { mode: text }
  const ms = parseDuration(text)
  if (ms === undefined || ms <= 0) throw new Error(`NATS_SYNC: expected always, default or a duration, not ${JSON.stringify(text)}`)
  return { mode: 'interval', ms }
}

/** [major, minor, patch] of `nats-server: v2.9.10` or `2.10.22`; undefined when unreadable. */
export function parseVersion (text: string): [number, number, number] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** True when `version` is at least major.minor. */
export function atLeast (version: string, major: number, minor: number): boolean {
  const v = parseVersion(version)
  return v !== undefined && (v[0] > major || (v[0] === major && v[1] >= minor))
}

const versions = new Map<string, Promise<string>>()

/** The version a nats-server binary reports (`nats-server --version`), asked once per process. */
export async function binaryVersion (binary = 'nats-server'): Promise<string> {
  let version = versions.get(binary)
  if (version === undefined) {
    version = promisify(execFile)(binary, ['--version'], { timeout: 10_000 }).then(({ stdout }) => {
      const v = parseVersion(stdout)
      return v === undefined ? stdout.trim() : v.join('.')
    })
    version.catch(() => versions.delete(binary))
    versions.set(binary, version)
  }
  return await version
}

export interface SyncPlan {
  /** the line of the server's jetstream block, or undefined to leave JetStream's default */
  jetstreamSetting: string | undefined
  durability: Durability
  /** why the plan falls short of fsync-always (logged once at start), or undefined */
  warning: string | undefined
}

const LOSS_ALWAYS = 'an acknowledged write is fsynced first: an OS crash or power loss loses none (a disk that lies about its flushes aside)'
const lossEvery = (interval: string): string => `an OS crash or power loss loses what was acknowledged in the last ${interval} (fsync every ${interval}); a crash of nats-server alone loses nothing`

/** What the embedded nats-server of version `version` runs with under NATS_SYNC `sync`. */
export function planSync (version: string, sync: NatsSync): SyncPlan {
  const supported = atLeast(version, 2, 10)
  if (supported && (sync.mode === 'auto' || sync.mode === 'always')) {
    return { jetstreamSetting: 'sync_interval: always', durability: { mode: 'always', server: version, note: LOSS_ALWAYS }, warning: undefined }
  }
  if (supported && sync.mode === 'interval') {
    const interval = formatDuration(sync.ms)
    return {
      jetstreamSetting: `sync_interval: "${sync.ms}ms"`,
      durability: { mode: 'interval', syncInterval: interval, server: version, note: lossEvery(interval) },
      warning: `NATS_SYNC=${interval}: ${lossEvery(interval)}; NATS_SYNC=always closes that window`
    }
  }
  const interval = formatDuration(DEFAULT_SYNC_MS)
  const durability: Durability = { mode: 'interval', syncInterval: interval, server: version, note: lossEvery(interval) }
  if (supported) return { jetstreamSetting: undefined, durability, warning: `NATS_SYNC=default: ${lossEvery(interval)}` }
  const asked = sync.mode === 'auto' ? '' : ` (NATS_SYNC=${sync.mode === 'interval' ? formatDuration(sync.ms) : sync.mode} needs 2.10 too)`
  return {
    jetstreamSetting: undefined,
    durability,
    warning: `nats-server ${version} has no sync_interval (2.10 and later): JetStream acknowledges writes before they are fsynced and fsyncs every ${interval}, ` +
      `so an OS crash or power loss can lose up to ${interval} of acknowledged writes${asked}. Install nats-server 2.10 or later, or run streams at R3 on separate machines`
  }
}

/** A server Jetway did not start: its sync_interval is its operator's. */
export function externalDurability (version: string, replicas: number): Durability {
  return {
    mode: 'external',
    server: version,
    note: `fsync as the nats-server at NATS_URL is configured (JetStream's default: every ${formatDuration(DEFAULT_SYNC_MS)}; sync_interval: always on 2.10+); ` +
      (replicas >= 3 ? `streams at R${replicas}: an acknowledged write is on ${Math.floor(replicas / 2) + 1} of ${replicas} nodes` : `streams at R${replicas}`)
  }
}
