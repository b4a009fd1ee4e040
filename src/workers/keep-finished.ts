import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { decodeEvent, isEvent } from '../store/events.js'
import { Events } from '../schema/events/index.js'
import { ExpiryPayload } from '../schema/events/timers.js'
import { Subjects } from '../store/subjects.js'
import { lastOnSubject } from '../store/subject-reader.js'
import { loadState } from '../store/command.js'
import { purgeSubjects, subjectsOf } from '../store/purge.js'
import { evolve as evolveMeeting } from '../domain/meeting.js'
import { evolveRelay } from '../domain/relay.js'
import type { Clock } from '../lib/time.js'
import type { Worker } from './worker.js'

const payloadCheck = TypeCompiler.Compile(ExpiryPayload)

export interface KeepFinishedDeps {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  /** KEEP_FINISHED */
  keepMs: number
}

/**
 * KEEP_FINISHED's effect in one aggregate stream (JOBS, TASKS, MEETINGS, RELAY): each expiry
 * timer's firing (src/projections/expiry.ts) purges the finished thing's subjects, once across
 * the fleet, after a re-check: a task or relay request whose callback is still being delivered
 * is left (the callback's outcome arms the expiry again), and so is a meeting moved later.
 */
export function keepFinishedWorker (stream: string, deps: KeepFinishedDeps): Worker {
  return {
    name: 'keep-finished',
    stream,
    async handle (event) {
      if (!isEvent(event, Events.timerFired) || event.data.kind !== 'expiry') return
      const expiry = event.data.payload
      if (!payloadCheck.Check(expiry)) throw new Error(`expiry timer ${event.data.timerId} names nothing to remove`)
      if (!await isFinished(expiry, deps)) return
      await purgeSubjects(deps.jsm, subjectsOf(expiry.aggregate, expiry.id))
    }
  }
}

async function isFinished (expiry: ExpiryPayload, deps: KeepFinishedDeps): Promise<boolean> {
  const { js, jsm, clock, keepMs } = deps
  switch (expiry.aggregate) {
    case 'task': {
      if (expiry.waitsForCallback !== true) return true
      const last = await lastOnSubject(jsm, 'TASKS', Subjects.taskCallback(expiry.id))
      if (last === null) return false
      const ev = decodeEvent(last)
      return isEvent(ev, Events.taskCallbackDelivered) || (isEvent(ev, Events.taskCallbackFailed) && ev.data.final)
    }
    case 'meeting': {
      const meeting = (await loadState({ js, jsm }, { stream: 'MEETINGS', subject: Subjects.meeting, evolve: evolveMeeting }, expiry.id)).state
      return meeting === undefined || meeting.cancelled || Date.parse(meeting.endsAt) + keepMs <= clock.now().getTime()
    }
    case 'relay-request': {
      const request = (await loadState({ js, jsm }, { stream: 'RELAY', subject: Subjects.relayRequest, evolve: evolveRelay }, expiry.id)).state
      return request === undefined || (request.status !== 'pending' && request.callback.status !== 'pending')
    }
    default:
      return true
  }
}
