import { Cron } from 'croner'
import { createHash } from 'node:crypto'
import { isEvent, type StoredEvent } from '../store/events.js'
import { ErrorCodes, JetwayError } from '../lib/errors.js'
import { Events, decision, type Decided } from '../schema/events/index.js'
import type { ScheduleCreated } from '../schema/events/tasks.js'
import type { Aggregate } from '../store/command.js'
import { Subjects } from '../store/subjects.js'

// The schedule aggregate (seed 003's EventBridge rule), pure. One tick is one durable timer,
// armed by schedule.created and then by each schedule.ticked for the tick after it. A tick's
// effect creates the tick's task (its id derives from schedule and tick, so it happens once)
// and appends schedule.ticked. A tick whose timer fires later than the grace (no instance ran
// at its time) is skipped, never fired late, and the next tick is the first one after now:
// a schedule never fires a burst to catch up.

export interface ScheduleState extends ScheduleCreated {
  createdAt: string
  deleted: boolean
  lastTick?: string
  lastTaskId?: string
  lastSkipped?: boolean
  version: number
}

export function evolve (state: ScheduleState | undefined, ev: StoredEvent): ScheduleState | undefined {
  if (isEvent(ev, Events.scheduleCreated)) return state ?? { ...ev.data, createdAt: ev.time, deleted: false, version: ev.seq }
  if (state === undefined) return undefined
  if (isEvent(ev, Events.scheduleTicked)) {
    const { taskId } = ev.data
    return { ...state, nextTick: ev.data.nextTick, lastTick: ev.data.tick, lastSkipped: ev.data.skipped, ...(taskId === undefined ? {} : { lastTaskId: taskId }), version: ev.seq }
  }
  if (isEvent(ev, Events.scheduleDeleted)) return { ...state, deleted: true, nextTick: null, version: ev.seq }
  return { ...state, version: ev.seq }
}

export type ScheduleCommand =
  | { kind: 'create', data: ScheduleCreated }
  /** the tick's timer fired at `at`: `taskId` is the task created for it; none when it was skipped */
  | { kind: 'tick', tick: string, at: Date, taskId?: string }
  | { kind: 'delete' }

/** Whether a fired tick is still the armed one (not deleted, not already ticked). */
export function isArmed (state: ScheduleState | undefined, tick: string): state is ScheduleState {
  return state !== undefined && !state.deleted && state.nextTick !== null && Date.parse(state.nextTick) === Date.parse(tick)
}

export type TickPlan = 'stale' | 'skip' | 'fire'

/** What a tick's timer means at `at`: nothing (deleted, or not the armed tick), skip it (later than the grace), or fire it. */
export function planTick (state: ScheduleState | undefined, tick: string, at: Date, graceMs: number): TickPlan {
  if (!isArmed(state, tick)) return 'stale'
  return at.getTime() - Date.parse(tick) > graceMs ? 'skip' : 'fire'
}

export function decide (state: ScheduleState | undefined, command: ScheduleCommand): Decided {
  if (command.kind === 'create') return state === undefined ? [decision(Events.scheduleCreated, command.data)] : []
  if (state === undefined) throw new JetwayError(ErrorCodes.notFound, 'no such schedule')
  const { scheduleId } = state
  if (command.kind === 'delete') return state.deleted ? [] : [decision(Events.scheduleDeleted, { scheduleId })]
  if (!isArmed(state, command.tick)) return []
  const tick = new Date(command.tick).toISOString()
  // the next tick after now, not after this tick: a late tick never makes a burst of catch-ups
  const after = new Date(Math.max(Date.parse(tick), command.at.getTime()))
  const nextTick = nextTicks(state.cron, state.timezone, after, 1)[0] ?? null
  return [decision(Events.scheduleTicked, {
    scheduleId,
    tick,
    ...(command.taskId === undefined ? {} : { taskId: command.taskId }),
    skipped: command.taskId === undefined,
    nextTick
  })]
}

export const scheduleAggregate: Aggregate<ScheduleState, ScheduleCommand> = {
  stream: 'TASKS',
  subject: Subjects.schedule,
  evolve,
  decide
}

function cronOf (pattern: string, timezone: string): Cron {
  return new Cron(pattern, { timezone, mode: '5-or-6-parts', paused: true })
}

/** The next `n` ticks strictly after `after`, as ISO instants. */
export function nextTicks (pattern: string, timezone: string, after: Date, n: number): string[] {
  return cronOf(pattern, timezone).nextRuns(n, after).map(d => d.toISOString())
}

/** A 400 naming the field unless the pattern (5 or 6 fields, seconds first) and IANA zone work. */
export function checkCron (pattern: string, timezone: string): void {
  try {
    cronOf(pattern, 'UTC')
  } catch (err) {
    throw new JetwayError(ErrorCodes.validation, `cron: ${(err as Error).message}`, [{ field: 'cron', message: 'must be a cron pattern of 5 or 6 fields (seconds first)' }])
  }
  try {
    cronOf(pattern, timezone).nextRun()
  } catch {
    throw new JetwayError(ErrorCodes.validation, `timezone: ${timezone} is not an IANA time zone`, [{ field: 'timezone', message: 'must be an IANA time zone, e.g. Europe/Berlin' }])
  }
}

/** The task of one tick: the same id however many times the tick's effect runs. */
export function taskIdOfTick (scheduleId: string, tick: string): string {
  return createHash('sha256').update(`schedule\n${scheduleId}\n${new Date(tick).toISOString()}`).digest('hex').slice(0, 32)
}
