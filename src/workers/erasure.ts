import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { appendEvent, decodeEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { ErasedKind, ErasureRequested } from '../schema/events/erasures.js'
import { Subjects } from '../store/subjects.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { purgeSubjects, subjectsOfUser, type UserRecords } from '../store/purge.js'
import type { UserKeys } from '../lib/erasure-key.js'
import type { Clock } from '../lib/time.js'
import type { DB } from '../projections/db.js'
import type { ReadModels } from '../projections/checkpoints.js'
import { collectUserIds } from '../projections/collect-events.js'
import { jobIdsOf, jobUserIds } from '../projections/jobs.js'
import { meetingIdsOf, organizerIds } from '../projections/meetings.js'
import { taskIdsOf, taskOwnerIds } from '../projections/tasks.js'
import { scheduleIdsOf, scheduleOwnerIds } from '../projections/schedules.js'
import { notificationIdsAbout } from '../projections/notifications.js'
import type { Worker } from './worker.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { SUPPRESSION_REFRESH_MS } from '../api/http/suppressions.js'

export interface ErasureDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  log: Logger
  db: DB
  readModels: ReadModels
  keys: UserKeys
  /** longest it waits for the read models to catch up with the streams before retrying */
  readWaitMs?: number
  /**
   * With ?suppress=true, how long it lets every instance learn of the suppression before it
   * takes its cutoffs (instances read the suppressions every SUPPRESSION_REFRESH_MS), so what
   * another instance took from the user in that while is erased too
   */
  suppressGraceMs?: number
}

/** The read models the user's records are found in, and their streams. */
const FINDERS = ['collect-events', 'jobs', 'meetings', 'tasks', 'schedules', 'notifications'] as const
/** The streams an erasure purges (and records a cutoff of). */
const STREAMS = ['COLLECT', 'JOBS', 'MEETINGS', 'NOTIFY', 'TASKS'] as const
const CHUNK = 1000

/** A user's records, the user found by its key among the user ids the read models hold. */
export async function findUserRecords (db: DB, keys: UserKeys, userKey: string): Promise<UserRecords> {
  const seen = new Set<string>()
  for (const ids of [await collectUserIds(db), await jobUserIds(db), await organizerIds(db), await taskOwnerIds(db), await scheduleOwnerIds(db)]) {
    for (const id of ids) if (keys.of(id) === userKey) seen.add(id)
  }
  const userIds = [...seen]
  const meeting = await meetingIdsOf(db, userIds)
  const task = await taskIdsOf(db, userIds)
  return {
    userIds,
    ids: {
      job: await jobIdsOf(db, userIds),
      meeting,
      task,
      schedule: await scheduleIdsOf(db, userIds),
      notification: [...await notificationIdsAbout(db, 'meeting', meeting), ...await notificationIdsAbout(db, 'task', task)]
    }
  }
}

/**
 * Carries out each erasure once across the fleet (durable consumer erasure-executor on
 * ERASURES): waits for this instance's read models to be current with the streams, finds the
 * user (the keyed hash, matched against the user ids they hold) and the user's records, purges
 * their subjects from every stream, and records what it removed: erasure.removed (the ids,
 * which every instance drops from its read models) and erasure.completed (the cutoffs and
 * counts). A retry after a crash does it again: purges are idempotent.
 */
export function erasureWorker (deps: ErasureDeps): Worker {
  return {
    name: 'erasure-executor',
    stream: 'ERASURES',
    async handle (event) {
      if (!isEvent(event, Events.erasureRequested)) return
      const erasure = event.data
      const last = await lastOnSubject(deps.jsm, 'ERASURES', Subjects.erasure(erasure.erasureId))
      if (last !== null && decodeEvent(last).type === Events.erasureCompleted.type) return
      await execute(erasure, event.id, deps)
    }
  }
}

async function execute (erasure: ErasureRequested, causationId: string, deps: ErasureDeps): Promise<void> {
  const { js, jsm, db, readModels, keys, clock } = deps
  if (erasure.suppress) await sleep(deps.suppressGraceMs ?? 2 * SUPPRESSION_REFRESH_MS)
  const cutoffs: Record<string, number> = {}
  for (const stream of STREAMS) cutoffs[stream] = await readModels.streamEnd(stream)
  for (const name of FINDERS) {
    const projection = readModels.byName(name)!
    const current = await readModels.waitFor(name, cutoffs[projection.stream], deps.readWaitMs ?? 30_000)
    if (!current.ok) throw new Error(`read model ${name} is not current with ${projection.stream} yet; the erasure is retried`)
  }
  const records = await findUserRecords(db, keys, erasure.userKey)
  const { upToCutoff, whole } = subjectsOfUser(records)
  const purged = sum(await purgeSubjects(jsm, whole), await purgeSubjects(jsm, upToCutoff, cutoffs))
  const subject = Subjects.erasure(erasure.erasureId)
  const base = { subject, source: '/jetway/workers/erasure', about: erasure.erasureId, causationId, time: clock.now() }
  for (const kind of Object.keys(records.ids) as ErasedKind[]) {
    const ids = records.ids[kind]
    for (let i = 0; i < ids.length; i += CHUNK) {
      await appendEvent(js, { ...base, def: Events.erasureRemoved, data: { erasureId: erasure.erasureId, kind, ids: ids.slice(i, i + CHUNK) }, idempotencyKey: `erasure:${erasure.erasureId}:${kind}:${i / CHUNK}` })
    }
  }
  await appendEvent(js, {
    ...base,
    def: Events.erasureCompleted,
    data: { erasureId: erasure.erasureId, userKey: erasure.userKey, cutoffs, purged, completedAt: clock.now().toISOString() },
    idempotencyKey: `erasure:${erasure.erasureId}:completed`
  })
  deps.log.info({ erasureId: erasure.erasureId, users: records.userIds.length, purged }, 'erasure done')
}

function sum (...counts: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(STREAMS.map(s => [s, 0]))
  for (const c of counts) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v
  return out
}
