import type { TSchema, Static } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import '../formats.js'
import { CollectEventReceived } from './collect.js'
import { JobCompleted, JobRequested, JobStatusChanged } from './jobs.js'
import { MessageDeadLettered, MessageReplayed } from './dlq.js'

/** One event type at one version. Published schemas never change; a new version is added. */
export interface EventDefinition<S extends TSchema = TSchema> {
  type: string
  version: number
  schema: S
  check: TypeCheck<S>
}

function define<S extends TSchema> (type: string, version: number, schema: S): EventDefinition<S> {
  return { type, version, schema, check: TypeCompiler.Compile(schema) }
}

export const Events = {
  collectEventReceived: define('collect.event.received', 1, CollectEventReceived),
  jobRequested: define('job.requested', 1, JobRequested),
  jobCompleted: define('job.completed', 1, JobCompleted),
  jobStatusChanged: define('job.status.changed', 1, JobStatusChanged),
  messageDeadLettered: define('dlq.message.deadlettered', 1, MessageDeadLettered),
  messageReplayed: define('dlq.message.replayed', 1, MessageReplayed)
} as const

export type EventData<D extends EventDefinition> = Static<D['schema']>

const byType = new Map<string, EventDefinition>(Object.values(Events).map(d => [`${d.type}@${d.version}`, d]))

/** The definition for a stored event's type and version, if this build knows it. */
export function definitionOf (type: string, version: number): EventDefinition | undefined {
  return byType.get(`${type}@${version}`)
}
