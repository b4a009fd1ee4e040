import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isEvent } from '../store/events.js'
import { handleCommand, loadState } from '../store/command.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { Subjects } from '../store/subjects.js'
import { newTask, taskAggregate } from '../domain/task.js'
import { planTick, scheduleAggregate, taskIdOfTick } from '../domain/schedule.js'
import { Events } from '../schema/events/index.js'
import { ScheduleTickPayload } from '../schema/events/timers.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(ScheduleTickPayload)

/**
 * The effect of a schedule's tick (schedule-tick timer, timer.fired on timer.tasks.>): creates
 * the tick's task through the command handler under an id derived from schedule and tick (so
 * a redelivery, a second instance or a restart creates nothing more), then appends
 * schedule.ticked, which arms the next tick. A tick found more than SCHEDULE_GRACE after its
 * time (no instance ran then) is recorded as skipped and creates no task.
 */
export function scheduleTickerWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, graceMs: number, defaultTimeoutMs: number }): Worker {
  return {
    name: 'schedule-ticker',
    stream: 'TASKS',
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'schedule-tick') return
      const due = event.data.payload
      if (!payloadCheck.Check(due)) throw new Error(`schedule-tick timer ${event.data.timerId} carries no schedule`)
      const now = deps.clock.now()
      const { state } = await loadState(deps, scheduleAggregate, due.scheduleId)
      let plan = planTick(state, due.tick, now, deps.graceMs)
      if (plan === 'stale' || state === undefined) return
      const taskId = taskIdOfTick(due.scheduleId, due.tick)
      // a redelivery after the task was made (and before schedule.ticked) is not "late"
      if (plan === 'skip' && await lastOnSubject(deps.jsm, 'TASKS', Subjects.task(taskId)) !== null) plan = 'fire'
      if (plan === 'fire') {
        const tick = new Date(due.tick).toISOString()
        await handleCommand(deps, taskAggregate, taskId, { kind: 'create', data: newTask(taskId, state.owner, state.task, now, deps.defaultTimeoutMs, { scheduleId: due.scheduleId, tick }) }, {
          source: '/jetway/workers/schedule-ticker',
          actor: state.owner,
          idempotencyKey: `task:${taskId}`,
          correlationId: event.correlationId
        })
      }
      await handleCommand(deps, scheduleAggregate, due.scheduleId, { kind: 'tick', tick: due.tick, at: now, ...(plan === 'fire' ? { taskId } : {}) }, {
        source: '/jetway/workers/schedule-ticker',
        correlationId: event.correlationId
      })
    }
  }
}
