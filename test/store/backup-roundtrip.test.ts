import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { startService, post, seqOf } from '../fixtures/service.js'
import { natsServer } from '../fixtures/nats.js'
import { smtpServer } from '../fixtures/smtp.js'
import { httpTarget } from '../fixtures/http-target.js'
import { until } from '../fixtures/wait.js'

// npm run backup / npm run restore, end to end: writes through every capability (collect,
// jobs, a meeting with its emails to a loopback SMTP server, a task with its callback, a relay
// request with its callback), a backup taken by the script while writes go on, a restore by the
// script into a fresh nats-server, a service started on it with an empty DATA_DIR. Every event
// acknowledged before the backup began is there at its sequence, the read models answer as
// before, and no email or callback is sent again. A second restore is refused.

const run = promisify(execFile)
const script = async (name: string, args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }> => {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args], { env: { ...process.env, ...env }, timeout: 120_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const inHours = (h: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 + h * 3600_000).toISOString()

/** The answers of the reads of every capability, as JSON. */
async function answers (app: FastifyInstance, ids: { job: string, meeting: string, task: string, request: string }): Promise<Record<string, unknown>> {
  const get = async (url: string): Promise<unknown> => {
    const r = await app.inject({ url })
    return { status: r.statusCode, body: r.json() }
  }
  return {
    collectA: await get('/api/event/alice?limit=1000'),
    collectB: await get('/api/event/bob?event=purchase&limit=1000'),
    job: await get(`/noti/jobs/${ids.job}`),
    meeting: await get(`/api/meetings/${ids.meeting}`),
    task: await get(`/api/tasks/${ids.task}`),
    request: await get(`/async/${ids.request}`)
  }
}

/** True once no durable consumer has anything to deliver or to be acknowledged. */
async function workersIdle (jsm: JetStreamManager): Promise<boolean> {
  for await (const stream of jsm.streams.names()) {
    for await (const c of jsm.consumers.list(stream)) {
      if (c.config.durable_name !== undefined && (c.num_pending > 0 || c.num_ack_pending > 0)) return false
    }
  }
  return true
}

t.test('backup under writes, restore into a fresh nats-server, start on an empty DATA_DIR: the same events and answers, nothing sent twice', async t => {
  const smtp = await smtpServer(t)
  const hook = await httpTarget(t, (_req, res) => { res.statusCode = 204; res.end() })
  const target = await httpTarget(t)
  const relayCallback = await httpTarget(t)
  const env = { SMTP_URL: smtp.url, RELAY_ALLOW: '127.0.0.0/8', TIMER_TICK: '50ms' }
  const a = await startService(t, { env })
  const app = a.app

  // every capability, each through to its effect
  const collected: { seq: number, user: string, eventId: string }[] = []
  for (let i = 0; i < 20; i++) {
    const user = i % 2 === 0 ? 'alice' : 'bob'
    const r = await post(app, '/api/collect', { event_id: `e-${i}`, event: i % 3 === 0 ? 'purchase' : 'view', user_id: user, parameters: { order_id: `o-${i}`, price: i } })
    t.equal(r.statusCode, 200)
    collected.push({ seq: seqOf(r), user, eventId: `e-${i}` })
  }
  const { eventId: job } = (await post(app, '/noti/pub', { eventType: 'TRAINING', userId: 'alice' })).json()
  t.equal((await post(app, '/noti/events', [{ id: job, eventType: 'VRD.ML.CompleteEvent', subject: 's', data: { desc: 'done' }, eventTime: 't', dataVersion: '1' }])).statusCode, 200)
  const meetingRes = (await post(app, '/api/meetings', {
    title: 'Backup review',
    startsAt: inHours(48),
    durationMinutes: 30,
    location: 'Room 1',
    description: 'Restore drill',
    participants: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }],
    organizer: { userId: 'org', email: 'org@example.com' }
  }))
  t.equal(meetingRes.statusCode, 201, meetingRes.body)
  const meeting = meetingRes.json()
  const task = (await post(app, '/api/tasks', { type: 'build', title: 'Build 1', input: { n: 1 }, owner: 'ci', callbackUrl: `${hook.origin}/hook` })).json()
  t.equal((await post(app, '/api/tasks/success', { taskToken: task.taskToken, output: { ok: true } })).statusCode, 200)
  const { requestId } = (await post(app, '/async', { targetURL: target.origin, targetAPI: '/work', headers: {}, body: { callback_uri: relayCallback.origin }, delivery: { retry: 1, backoffDelay: 'PT0.1S' } })).json()
  const ids = { job, meeting: meeting.id as string, task: task.taskId as string, request: requestId as string }

  await smtp.until(2)
  await until('the task callback', () => hook.received.length >= 1 ? true : undefined)
  await until('the relay call and its callback', () => target.received.length >= 1 && relayCallback.received.length >= 1 ? true : undefined)
  await until('the relay request recorded as delivered, callback sent', async () => {
    const s = (await app.inject({ url: `/async/${requestId as string}` })).json()
    return s.status === 'delivered' && s.callback?.status === 'sent' ? true : undefined
  })
  await until('the task callback recorded', async () => {
    const v = (await app.inject({ url: `/api/tasks/${ids.task}` })).json()
    return v.callbacks?.some((c: { outcome: string }) => c.outcome === 'delivered') === true ? true : undefined
  })
  await until('every worker done', async () => await workersIdle(a.runtime.jsm) ? true : undefined)
  await until('the read models current', async () => (await app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined)
  const before = await answers(app, ids)
  const sent = { mails: smtp.mails.length, hooks: hook.received.length, target: target.received.length, callbacks: relayCallback.received.length }
  t.same(sent, { mails: 2, hooks: 1, target: 1, callbacks: 1 })

  // writes go on while the backup runs: collected events and new jobs
  const acked: { seq: number, at: number }[] = []
  const writing = { on: true }
  const load = (async () => {
    for (let i = 0; writing.on; i++) {
      const r = i % 5 === 4
        ? await post(app, '/noti/pub', { eventType: 'LOAD', userId: 'load' })
        : await post(app, '/api/collect', { event_id: `load-${i}`, event: 'view', user_id: 'load' })
      if (r.statusCode === 200 && i % 5 !== 4) acked.push({ seq: seqOf(r), at: Date.now() })
    }
  })()
  await until('writes under way', () => acked.length >= 20 ? true : undefined)
  const dir = await mkdtemp(join(tmpdir(), 'jetway-roundtrip-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backupStarted = Date.now()
  const backup = await script('backup', ['--out', join(dir, 'b')], { NATS_URL: a.natsUrl, DATA_DIR: a.dataDir })
  t.equal(backup.code, 0, backup.stderr)
  t.match(backup.stdout, /^backup: 9 streams, \d+ messages, \d+ bytes \(.+ of files\), \d+\.\d seconds -> .+\/b$/m, 'one summary line')
  writing.on = false
  await load
  const ackedBefore = acked.filter(w => w.at < backupStarted)
  t.ok(ackedBefore.length >= 20)
  t.ok(acked.length > ackedBefore.length, 'writes were acknowledged while the backup ran')
  await a.close()

  const fresh = await natsServer(t)
  const dataDir = join(dir, 'data-b')
  const restore = await script('restore', ['--from', join(dir, 'b')], { NATS_URL: fresh, DATA_DIR: dataDir })
  t.equal(restore.code, 0, restore.stderr)
  t.match(restore.stdout, /^restore: 9 streams, \d+ messages, \d+ bytes, \d+\.\d seconds <- .+\/b$/m)
  t.match(restore.stderr, /task-token\.secret restored into/, 'the secret of the task tokens comes back too')
  const again = await script('restore', ['--from', join(dir, 'b')], { NATS_URL: fresh, DATA_DIR: dataDir })
  t.equal(again.code, 1)
  t.match(again.stderr, /restore failed: the server already has streams COLLECT, JOBS, MEETINGS, TASKS, RELAY, NOTIFY, LEASES, DLQ: a restore does not overwrite/)

  const b = await startService(t, { natsUrl: fresh, dataDir, env })
  await until('the rebuilt read models current', async () => (await b.app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined, 30_000)

  // every acknowledged event of the backup's moment, at its sequence, as it was stored
  const nc = await connect({ servers: a.natsUrl })
  t.teardown(async () => { await nc.close() })
  const original = { runtime: { jsm: await jetstreamManager(nc) } }
  for (const w of [...collected.map(c => c.seq), ...ackedBefore.map(w => w.seq)]) {
    const restored = await b.runtime.jsm.streams.getMessage('COLLECT', { seq: w }).catch(() => null)
    const was = await original.runtime.jsm.streams.getMessage('COLLECT', { seq: w })
    t.ok(restored !== null && Buffer.from(restored.data).equals(Buffer.from(was!.data)) && restored.subject === was!.subject, `COLLECT:${w} restored`)
  }
  for (const stream of ['JOBS', 'MEETINGS', 'NOTIFY', 'TASKS', 'RELAY']) {
    const info = await b.runtime.jsm.streams.info(stream)
    let same = 0
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const r = await b.runtime.jsm.streams.getMessage(stream, { seq }).catch(() => null)
      if (r === null) continue
      const o = await original.runtime.jsm.streams.getMessage(stream, { seq })
      if (o !== null && Buffer.from(r.data).equals(Buffer.from(o.data)) && JSON.stringify([...(r.header ?? [])]) === JSON.stringify([...(o.header ?? [])])) same++
    }
    t.equal(same, info.state.messages, `${stream}: every restored message is the original's at its sequence`)
  }

  // the rebuilt read models answer as before
  t.same(await answers(b.app, ids), before, 'collect searches, the job, the meeting, the task and the relay request read the same')

  // the workers find their work done: nothing sent again
  await until('the restored workers idle', async () => await workersIdle(b.runtime.jsm) ? true : undefined, 30_000)
  await until('no timer due', async () => {
    const m = (await b.app.inject({ url: '/metrics' })).body
    return /^jetway_timers_due 0$/m.test(m) ? true : undefined
  })
  t.same({ mails: smtp.mails.length, hooks: hook.received.length, target: target.received.length, callbacks: relayCallback.received.length }, sent, 'no email, callback or relay call sent again')
  const next = await post(b.app, '/api/collect', { event_id: 'after', event: 'view', user_id: 'alice' })
  t.ok(seqOf(next) > collected.at(-1)!.seq, 'new events continue the restored sequence')
})
