import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { appendEvent, isEvent } from '../store/events.js'
import { approvalEmail, approvalEmailKey } from '../domain/task-email.js'
import { approvalToken } from '../lib/task-tokens.js'
import { Events } from '../schema/events/index.js'
import { Subjects } from '../store/subjects.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

/** The link of an approver's page: the approval token is the credential, GET never changes anything. */
export function approvalLink (publicUrl: string, token: string): string {
  return `${publicUrl}/tasks/approval/${token}`
}

/**
 * TASKS -> NOTIFY: each new task asks each of its approvers, one notification.requested (v2,
 * about the task) per approver on notify.requested.task.<taskId>, keyed by task and approver
 * so a redelivery requests nothing new. The notification service sends them and keeps the
 * delivery records, as for meetings.
 */
export function taskNotifierWorker (deps: { js: JetStreamClient, jsm: JetStreamManager, clock: Clock, publicUrl: string, secret: string }): Worker {
  return {
    name: 'task-notifier',
    stream: 'TASKS',
    async handle (event) {
      if (!isEvent(event, Events.taskCreated)) return
      const task = event.data
      for (const [i, approver] of task.approvers.entries()) {
        const key = approvalEmailKey(task.taskId, approver)
        const link = approvalLink(deps.publicUrl, approvalToken(deps.secret, task.taskId, i, approver))
        await appendEvent(deps.js, {
          def: Events.notificationRequestedV2,
          data: approvalEmail(task, approver, link),
          subject: Subjects.notificationRequestedAbout('task', task.taskId),
          source: '/jetway/workers/task-notifier',
          about: task.taskId,
          idempotencyKey: key,
          causationId: event.id,
          correlationId: event.correlationId,
          time: deps.clock.now()
        })
      }
    }
  }
}
