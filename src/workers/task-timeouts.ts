import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isEvent } from '../store/events.js'
import { handleCommand } from '../store/command.js'
import { taskAggregate } from '../domain/task.js'
import { Events } from '../schema/events/index.js'
import { TaskTimerPayload } from '../schema/events/timers.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(TaskTimerPayload)

/**
 * The effect of a task's deadline timers (task-timeout at its hard cap, task-heartbeat at its
 * heartbeat deadline; timer.fired on timer.tasks.>): an `expire` command on the task, which
 * appends task.timed_out (States.Timeout or States.HeartbeatTimeout) only if the task still
 * waits and a deadline has passed: a heartbeat that moved the deadline, or an outcome that came
 * first, makes it nothing.
 */
export function taskTimeoutsWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock }): Worker {
  return {
    name: 'task-timeouts',
    stream: 'TASKS',
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || (event.data.kind !== 'task-timeout' && event.data.kind !== 'task-heartbeat')) return
      const due = event.data.payload
      if (!payloadCheck.Check(due)) throw new Error(`${event.data.kind} timer ${event.data.timerId} carries no task`)
      // the timer's due time, at least: an instance whose clock runs behind the ticker's still times it out
      const at = new Date(Math.max(deps.clock.now().getTime(), Date.parse(event.data.dueAt)))
      await handleCommand(deps, taskAggregate, due.taskId, { kind: 'expire', at }, {
        source: '/jetway/workers/task-timeouts',
        correlationId: event.correlationId
      })
    }
  }
}
