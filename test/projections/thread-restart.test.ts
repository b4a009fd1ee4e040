import t from 'tap'
import { Writable } from 'node:stream'
import { startService, post } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { startProjectionThread } from '../../src/projections/thread-host.js'
import { projectionsFor } from '../../src/projections/index.js'
import { createLogger } from '../../src/lib/log.js'

// The projection thread ended at any point (crash(): Worker.terminate, mid-batch or
// mid-transaction as it falls) is started again by its host, and its runners resume from the
// checkpoints SQLite committed: nothing applied twice, nothing skipped. The meetings read model
// counts each change of a meeting (its iCalendar SEQUENCE, `sequence + 1` per update), so an
// update applied twice shows there; collected events must be there once each; and every
// checkpoint must end at its stream's last sequence.

const CRASHES = 3
const UPDATES_PER_ROUND = 20
const EVENTS_PER_ROUND = 60

t.test('crashed under a write load, the projection thread starts again and resumes from its checkpoints', async t => {
  // the HTTP side only (ROLES=api: no projections of its own); the thread below is the one projector
  const svc = await startService(t, { env: { ROLES: 'api' } })
  const { app, runtime } = svc
  const lines: { msg?: string }[] = []
  const log = createLogger({ level: 'info', destination: new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string }); done() } }) })
  const host = await startProjectionThread({ ...svc.config, roles: new Set(['projections']) }, svc.natsUrl, log)
  t.teardown(async () => { await host.close() })

  const created = await post(app, '/api/meetings', {
    title: 'v0', startsAt: '2031-01-01T10:00:00Z', durationMinutes: 30, location: 'Room', participants: [{ email: 'a@example.com' }], organizer: { userId: 'org', email: 'org@example.com' }
  })
  t.equal(created.statusCode, 201)
  const meetingId = created.json().id as string
  let updates = 0
  let events = 0
  const write = async (round: number): Promise<void> => {
    const collect = (async () => {
      for (let i = 0; i < EVENTS_PER_ROUND; i++) {
        const r = await post(app, '/api/collect', { event_id: `r${round}-${i}`, event: 'view', user_id: 'crash' })
        if (r.statusCode !== 200) throw new Error(`collect: ${r.statusCode} ${r.body}`)
        events++
      }
    })()
    for (let i = 0; i < UPDATES_PER_ROUND; i++) {
      const r = await app.inject({ method: 'PATCH', url: `/api/meetings/${meetingId}`, payload: { title: `r${round}-${i}` } })
      if (r.statusCode !== 200) throw new Error(`PATCH: ${r.statusCode} ${r.body}`)
      updates++
    }
    await collect
  }

  for (let round = 0; round < CRASHES; round++) {
    const loaded = write(round)
    // crash while the runners have work: once the meetings runner has applied some of this round
    const meetings = host.runners.get('meetings')!
    const from = meetings.appliedSeq
    await until('the meetings runner at work', () => meetings.appliedSeq > from ? true : undefined)
    const before = host.thread
    await host.crash()
    t.comment(`round ${round}: crashed ${before} with meetings at ${meetings.appliedSeq}`)
    await loaded // the writes go on while no thread projects: they wait in the streams
    await until('a new projection thread', () => host.thread !== before ? true : undefined)
  }

  // caught up: every checkpoint at its stream's end
  const ends = new Map<string, number>()
  for (const p of projectionsFor(svc.config)) ends.set(p.stream, (await runtime.jsm.streams.info(p.stream)).state.last_seq)
  const checkpoints = async (): Promise<Map<string, number>> => new Map((await runtime.db.selectFrom('projection_checkpoints').select(['name', 'last_seq']).execute()).map(r => [r.name, r.last_seq]))
  await until('every checkpoint at its stream\'s end', async () => {
    const at = await checkpoints()
    return projectionsFor(svc.config).every(p => at.get(p.name) === ends.get(p.stream)) ? true : undefined
  }, 30_000)
  const at = await checkpoints()
  for (const p of projectionsFor(svc.config)) t.equal(at.get(p.name), ends.get(p.stream), `${p.name}: checkpoint at ${p.stream}'s last sequence`)

  const meeting = await runtime.db.selectFrom('meetings').select(['sequence', 'title', 'version']).where('meeting_id', '=', meetingId).executeTakeFirstOrThrow()
  t.equal(meeting.sequence, updates, `the meeting counts ${updates} updates: none applied twice, none skipped`)
  t.equal(meeting.title, `r${CRASHES - 1}-${UPDATES_PER_ROUND - 1}`, 'the last update is the title')
  t.equal(meeting.version, ends.get('MEETINGS'), 'its version is the last event')
  const rows = await runtime.db.selectFrom('collect_events').select(['event_id']).where('user_id', '=', 'crash').execute()
  t.equal(rows.length, events, `${events} collected events, each once`)
  t.equal(new Set(rows.map(r => r.event_id)).size, rows.length)

  t.equal(lines.filter(l => /projection thread exited; starting a new one/.test(l.msg ?? '')).length, CRASHES, 'each crash logged, and a new thread started')
  // reads through the API see the thread's commits
  const read = await app.inject({ url: `/api/meetings/${meetingId}` })
  t.equal(read.json().title, meeting.title)
})

t.test('a close between a crash and the new thread\'s start ends at once, and no new thread starts', async t => {
  const svc = await startService(t, { env: { ROLES: 'api' } })
  const lines: { msg?: string }[] = []
  const log = createLogger({ level: 'info', destination: new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string }); done() } }) })
  const host = await startProjectionThread({ ...svc.config, roles: new Set(['projections']) }, svc.natsUrl, log)
  await host.crash()
  await t.rejects(host.runners.get('meetings')!.stop(), /starting again after a crash/, 'a call while no thread runs is refused, not left waiting')
  await host.close() // (it waited for ever on the exit of the thread already gone)
  // (the restart due a second after the crash finds the host closed: a thread started then
  // would keep this test's process from ending)
  t.ok(lines.some(l => /projection thread exited/.test(l.msg ?? '')), 'the crash was seen')
})
