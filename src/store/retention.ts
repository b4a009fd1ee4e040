import { formatDuration } from '../lib/duration.js'

// How long each stream keeps what it holds (RETENTION_<STREAM> → the stream's max_age), and
// which retention a stream refuses because it would cut into something still alive. The one
// place these rules live: src/config.ts checks them at start, src/store/streams.ts applies them.

/** The streams whose retention RETENTION_<NAME> sets (ERASURES is not one: its records must outlive every backup). */
export const RETAINED_STREAMS = ['COLLECT', 'JOBS', 'MEETINGS', 'NOTIFY', 'TASKS', 'RELAY', 'DLQ', 'LEASES'] as const
export type RetainedStream = typeof RETAINED_STREAMS[number]

/** The longest `timeoutSeconds` a job request may name (src/schema/api/jobs.ts). */
export const MAX_JOB_TIMEOUT_MS = 30 * 24 * 3_600_000

/** JetStream's own floor for max_age. */
const MIN_MAX_AGE_MS = 1000

export interface RetentionInputs {
  jobTimeoutMs: number
  leaseTtlMs: number
  /** the longest a notification request waits for its delivery's last attempt */
  notifyLifeMs: number
}

export type RetentionRule = { minMs: number, why: string } | { refused: string }

/** What a stream's retention may be. */
export function retentionRule (stream: RetainedStream, inputs: RetentionInputs): RetentionRule {
  switch (stream) {
    case 'MEETINGS':
      return { refused: 'a meeting lives until it is past and may be scheduled any time ahead, so any max_age would cut the events of a live meeting; set KEEP_FINISHED instead, which removes a meeting that long after it ended' }
    case 'TASKS':
      return { refused: 'TASKS holds schedules, which live until deleted (and tasks a schedule keeps creating), so any max_age would cut the events of a live schedule; set KEEP_FINISHED instead, which removes a finished task that long after it finished' }
    case 'RELAY':
      return { refused: 'RELAY holds triggers, which live until deleted, so any max_age would cut the events of a live trigger; set KEEP_FINISHED instead, which removes a finished relay request that long after it finished' }
    case 'JOBS': {
      const life = Math.max(inputs.jobTimeoutMs, MAX_JOB_TIMEOUT_MS)
      return { minMs: life + 3_600_000, why: `a job may wait up to ${formatDuration(life)} for its completion (JOB_TIMEOUT, or the ${formatDuration(MAX_JOB_TIMEOUT_MS)} a request's timeoutSeconds may ask), plus an hour for its timeout to fire` }
    }
    case 'NOTIFY':
      return { minMs: inputs.notifyLifeMs, why: `a notification request is retried for up to ${formatDuration(inputs.notifyLifeMs)} (WORKER_MAX_DELIVER attempts, each up to the consumer's ack wait, with WORKER_BACKOFF between them)` }
    case 'LEASES':
      return { minMs: inputs.leaseTtlMs, why: `a held lease is renewed within RELAY_LEASE_TTL (${formatDuration(inputs.leaseTtlMs)})` }
    case 'COLLECT':
    case 'DLQ':
      return { minMs: MIN_MAX_AGE_MS, why: 'JetStream keeps a message at least that long' }
  }
}

/**
 * A stream's duplicate window: DUPLICATE_WINDOW, or its retention where that is shorter
 * (JetStream refuses a duplicate window longer than max_age; a message that aged out cannot
 * be a duplicate's original any more anyway).
 */
export function duplicateWindowOf (duplicateWindowMs: number, retentionMs: number | undefined): number {
  return retentionMs === undefined ? duplicateWindowMs : Math.min(duplicateWindowMs, retentionMs)
}
