import type { Config } from '../config.js'
import { collectEvents } from './collect-events.js'
import { jobs } from './jobs.js'
import { meetings } from './meetings.js'
import { notifications } from './notifications.js'
import type { Projection } from './projection.js'
import { jobTimers, meetingTimers, taskTimers } from './timers.js'
import { tasks } from './tasks.js'
import { schedules } from './schedules.js'
import { relay } from './relay.js'
import { relayTimers } from './relay-timers.js'

/** Every read model this build maintains (the reminder timers depend on REMINDER_LEAD). */
export function projectionsFor (config: Pick<Config, 'reminderLeadMs'>): Projection[] {
  return [collectEvents, jobs, meetings, notifications, jobTimers, meetingTimers(config.reminderLeadMs),
    tasks, schedules, taskTimers, relay, relayTimers]
}
