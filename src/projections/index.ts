import type { Config } from '../config.js'
import { collectEvents } from './collect-events.js'
import { jobs } from './jobs.js'
import { meetings } from './meetings.js'
import { notifications } from './notifications.js'
import type { Projection } from './projection.js'
import { jobTimerRules, meetingTimerRules, taskTimerRules, timerProjection, type TimerRules } from './timers.js'
import { tasks } from './tasks.js'
import { schedules } from './schedules.js'
import { relay } from './relay.js'
import { relayTimerRules } from './relay-timers.js'
import { withKeepFinished } from './expiry.js'
import { erasures } from './erasures.js'
import type { UserKeys } from '../lib/erasure-key.js'

/**
 * Every read model this build maintains (the reminder timers depend on REMINDER_LEAD; with
 * KEEP_FINISHED the timers of the aggregate streams also arm the expiry of what finishes). The
 * erasures read model applies erasures with `keys` (src/lib/erasure-key.ts); where only names
 * and streams are wanted, they may be left out.
 */
export function projectionsFor (config: Pick<Config, 'reminderLeadMs' | 'keepFinishedMs'>, keys?: UserKeys): Projection[] {
  const keep = config.keepFinishedMs
  const timers = (rules: TimerRules): Projection => timerProjection(keep === undefined ? rules : withKeepFinished(rules, keep))
  return [collectEvents, jobs, meetings, notifications, timers(jobTimerRules), timers(meetingTimerRules(config.reminderLeadMs)),
    tasks, schedules, timers(taskTimerRules), relay, timers(relayTimerRules), erasures(keys)]
}
