import { collectEvents } from './collect-events.js'
import { jobs } from './jobs.js'
import type { Projection } from './projection.js'

/** Every read model this build maintains. */
export const projections: Projection[] = [collectEvents, jobs]
