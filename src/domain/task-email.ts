import { notificationIdOf } from './notifications.js'
import type { NotificationRequestedV2 } from '../schema/events/notify.js'
import type { TaskCreated } from '../schema/events/tasks.js'

// The approval email of one approver of a task, as notification.requested v2 data. Pure.

const MAX_LINES = 12
const MAX_VALUE = 120

/** The task's input as a few readable lines: top-level keys, values as JSON, cut short. */
export function inputSummary (input: Record<string, unknown>): string[] {
  const entries = Object.entries(input)
  const lines = entries.slice(0, MAX_LINES).map(([k, v]) => {
    const text = JSON.stringify(v) ?? 'null'
    return `  ${k}: ${text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text}`
  })
  if (entries.length > MAX_LINES) lines.push(`  … and ${entries.length - MAX_LINES} more`)
  return lines.length === 0 ? ['  (none)'] : lines
}

export function approvalEmail (task: TaskCreated, approver: string, link: string): NotificationRequestedV2 {
  const key = approvalEmailKey(task.taskId, approver)
  const text = [
    `${task.owner} asks for your decision on "${task.title}" (${task.type}).`,
    '',
    'Input:',
    ...inputSummary(task.input),
    '',
    `Decide by: ${task.deadline}`,
    '',
    `Approve or reject: ${link}`,
    '',
    'Opening the link changes nothing: the page asks you to choose.'
  ].join('\n')
  return {
    notificationId: notificationIdOf(key),
    channel: 'EMAIL',
    kind: 'approval',
    recipients: [{ email: approver }],
    message: { subject: `Approval needed: ${task.title}`, text },
    about: { type: 'task', id: task.taskId }
  }
}

/** The idempotency key of an approver's email: one per task and approver. */
export function approvalEmailKey (taskId: string, approver: string): string {
  return `approval:${taskId}:${approver.toLowerCase()}`
}
