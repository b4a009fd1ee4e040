import { collectEvents } from './collect-events.js'
import { jobs } from './jobs.js'
import { meetings } from './meetings.js'
import { notifications } from './notifications.js'
import type { Projection } from './projection.js'

/** Every read model this build maintains. */
export const projections: Projection[] = [collectEvents, jobs, meetings, notifications]
