import { isEvent, type StoredEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import type { ExpiryPayload, FinishedAggregate } from '../schema/events/timers.js'
import type { TimerChange, TimerRules } from './timers.js'

// KEEP_FINISHED: when a job, task, schedule, meeting or relay request finishes, its stream's
// timers read model arms an `expiry` timer due KEEP_FINISHED later. The ticker fires it once
// across the fleet (timer.fired in the aggregate's stream); the worker keep-finished
// (src/workers/keep-finished.ts) purges the aggregate's subjects, and every instance's read
// model of the aggregate drops its rows when it applies that timer.fired (expiredBy below), so
// replicas, restarts and rebuilds agree. The timer.fired stays in the stream as the record.

/** The timers of a stream, plus the expiry timers of what finishes in it. */
export function withKeepFinished (rules: TimerRules, keepMs: number): TimerRules {
  return {
    ...rules,
    // a different version rebuilds the timers read model, arming the expiry of what finished before
    version: rules.version + 1000,
    changesOf: ev => [...rules.changesOf(ev), ...expiryChangesOf(ev, keepMs)]
  }
}

function expire (aggregate: FinishedAggregate, id: string, at: number, waitsForCallback = false): TimerChange {
  const payload: ExpiryPayload = waitsForCallback ? { aggregate, id, waitsForCallback } : { aggregate, id }
  const timerId = `expiry:${aggregate}:${id}`
  return { set: { timerId, kind: 'expiry', dueAt: at, payload, group: timerId } }
}

/** The expiry a finishing event arms (or re-arms, under the same timer id), KEEP_FINISHED after it. */
export function expiryChangesOf (ev: StoredEvent, keepMs: number): TimerChange[] {
  const after = Date.parse(ev.time) + keepMs
  // JOBS: a job is finished at its status
  if (isEvent(ev, Events.jobStatusChanged)) return [expire('job', ev.data.eventId, after)]
  // TASKS: at the outcome, and again once its callback (if any) is settled; a deleted schedule
  if (isEvent(ev, Events.taskSucceeded) || isEvent(ev, Events.taskFailed) || isEvent(ev, Events.taskTimedOut)) {
    return [expire('task', ev.data.taskId, after, ev.data.callbackUrl !== undefined)]
  }
  if (isEvent(ev, Events.taskCallbackDelivered) || (isEvent(ev, Events.taskCallbackFailed) && ev.data.final)) return [expire('task', ev.data.taskId, after)]
  if (isEvent(ev, Events.scheduleDeleted)) return [expire('schedule', ev.data.scheduleId, after)]
  // MEETINGS: past once it ended (moved with it), or once cancelled
  if (isEvent(ev, Events.meetingScheduled) || isEvent(ev, Events.meetingRescheduled)) return [expire('meeting', ev.data.meetingId, Date.parse(ev.data.endsAt) + keepMs)]
  if (isEvent(ev, Events.meetingCancelled)) return [expire('meeting', ev.data.meetingId, after)]
  // RELAY: an /async request at its outcome, and again once its callback is settled; a /sync call at its answer
  if (isEvent(ev, Events.relayDelivered) || isEvent(ev, Events.relayFailed)) return [expire('relay-request', ev.data.requestId, after, true)]
  if (isEvent(ev, Events.relayCallbackSent) || (isEvent(ev, Events.relayCallbackFailed) && ev.data.final)) return [expire('relay-request', ev.data.requestId, after)]
  if (isEvent(ev, Events.syncAnswered) || isEvent(ev, Events.syncFailed)) return [expire('relay-sync', ev.data.requestId, after)]
  return []
}

/** The aggregate an expiry timer's firing removes, when `ev` is one: what a read model drops. */
export function expiredBy (ev: StoredEvent): { aggregate: FinishedAggregate, id: string } | undefined {
  if (!isEvent(ev, Events.timerFired) || ev.data.kind !== 'expiry') return undefined
  const p = ev.data.payload as Partial<ExpiryPayload>
  return typeof p.aggregate === 'string' && typeof p.id === 'string' ? { aggregate: p.aggregate, id: p.id } : undefined
}
