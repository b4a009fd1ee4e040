import { decodeEvent, isValidEvent } from './events.js'
import { hubOf, type HubDeps, type HubEvent } from './hub.js'
import { SubjectParts } from './subjects.js'
import type { StreamTail } from './tail.js'

// The TASKS hub: every event of every task (tasks.<id>, not its callback deliveries), keyed by
// `task:<taskId>` and `owner:<owner>`. The owner is in each event's data, not in the subject,
// so the hub's keysOf reads it from the event.

/** The task events SSE streams: a task's life, from its creation to its outcome. */
const TYPES = new Set(['task.created', 'task.heartbeat.received', 'task.succeeded', 'task.failed', 'task.timed_out'])

export interface TaskHubEvent extends HubEvent {
  owner: string
}

/** The hub's event for a stored message: the event's data as `data:`, its owner beside it. */
export function taskEventOf (msg: Parameters<typeof decodeEvent>[0]): TaskHubEvent | undefined {
  const ev = decodeEvent(msg)
  if (!TYPES.has(ev.type) || !isValidEvent(ev)) return undefined
  return { seq: ev.seq, type: ev.type, data: JSON.stringify(ev.data), owner: (ev.data as { owner: string }).owner }
}

export function taskHub (deps: HubDeps): StreamTail<TaskHubEvent> {
  return hubOf<TaskHubEvent>(deps, {
    stream: 'TASKS',
    filter: 'tasks.*',
    keysOf: (subject, ev) => {
      const task = SubjectParts.task(subject)
      return task === undefined ? [`owner:${ev.owner}`] : [`task:${task.taskId}`, `owner:${ev.owner}`]
    },
    decode: taskEventOf
  })
}
