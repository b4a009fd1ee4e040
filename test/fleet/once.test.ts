import t, { type Test } from 'tap'
import { natsServer } from '../fixtures/nats.js'
import { startService, post, countOn, type Service } from '../fixtures/service.js'
import { smtpServer, type Mail, type Smtp } from '../fixtures/smtp.js'
import { natsCluster } from '../fixtures/cluster.js'
import { until } from '../fixtures/wait.js'
import { countDueTimers } from '../../src/projections/timers.js'

// A fleet: three Jetway instances, each with its own DATA_DIR (its own SQLite read models),
// sharing one nats-server: its streams and the workers' durable consumers. Every worker message
// is handled by one instance: one email per recipient, one status per job, one reminder per
// participant, one firing per timer. Each instance signs its mails with its own MAIL_FROM, so
// the figures show how the work spread (which instance gets what is JetStream's choice).
// FLEET_NATS_URL: run it on another NATS (a cluster: comma-separated URLs) instead of its own.

const INSTANCES = 3
const organizer = { userId: 'org', email: 'org@example.com' }
const wholeSeconds = (ms: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 + ms).toISOString()
const people = (prefix: string, n: number): { email: string }[] => Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }))
const spread = (mails: Mail[]): string => {
  const by = new Map<string, number>()
  for (const m of mails) by.set(m.from, (by.get(m.from) ?? 0) + 1)
  return [...by].sort().map(([from, n]) => `${from.split('@')[0]!}=${n}`).join(' ')
}
/** how often each recipient appears among `mails` */
const perRecipient = (mails: Mail[]): Map<string, number> => {
  const n = new Map<string, number>()
  for (const m of mails) n.set(m.to, (n.get(m.to) ?? 0) + 1)
  return n
}

/** no instance's read model holds a timer that is due (each has projected its firing) */
async function nothingDue (instances: Service[]): Promise<boolean> {
  const due = await Promise.all(instances.map(async svc => await countDueTimers(svc.runtime.db, Date.now())))
  return due.every(n => n === 0)
}

/** `natsUrls[i]`: instance i's NATS (the last one for the rest) */
async function fleet (t: Test, smtpUrl: string, natsUrls: string[], env: Record<string, string> = {}): Promise<Service[]> {
  const fleet: Service[] = []
  for (let i = 0; i < INSTANCES; i++) {
    const name = String.fromCharCode(97 + i)
    fleet.push(await startService(t, {
      natsUrl: natsUrls[Math.min(i, natsUrls.length - 1)]!,
      env: { SMTP_URL: smtpUrl, MAIL_FROM: `${name}@jetway.test`, REMINDER_LEAD: '1s', TIMER_TICK: '50ms', WORKER_BACKOFF: '50ms', ...env }
    }))
  }
  return fleet
}

async function invitations (t: Test, smtp: Smtp, instances: Service[], title: string, n: number): Promise<void> {
  const [a] = instances as [Service]
  const results = await countOn(a.runtime, 'NOTIFY', 'notify.result.>')
  const created = await post(a.app, '/api/meetings', { title, startsAt: wholeSeconds(86_400_000), durationMinutes: 30, location: 'Hall', participants: people(title.replace(/\W/g, '').toLowerCase(), n), organizer })
  t.equal(created.statusCode, 201)
  const invites = (): Mail[] => smtp.mails.filter(m => m.subject === `Invitation: ${title}`)
  await until(`${n} invitations`, () => invites().length >= n ? true : undefined)
  // every result recorded means every message was acked: nothing is left to come
  await until(`${n} results`, async () => await countOn(a.runtime, 'NOTIFY', 'notify.result.>') >= results + n ? true : undefined)
  for (const svc of instances) {
    await until('notification-service-group idle', async () => (await svc.runtime.jsm.consumers.info('NOTIFY', 'notification-service-group')).num_ack_pending === 0 ? true : undefined)
  }
  const got = perRecipient(invites())
  t.equal(got.size, n, 'every participant got one')
  t.same([...got.values()].filter(k => k !== 1), [], 'nobody got two')
  t.equal(invites().length, n)
  t.equal(await countOn(a.runtime, 'NOTIFY', 'notify.result.>'), results + n, 'one result per notification')
  t.comment(`${title}: invitations sent by instance: ${spread(invites())}`)
}

async function statuses (t: Test, instances: Service[], n: number): Promise<void> {
  const [a, b, c] = instances as [Service, Service, Service]
  const [completed, status] = [await countOn(a.runtime, 'JOBS', 'jobs.completed.>'), await countOn(a.runtime, 'JOBS', 'jobs.status.>')]
  const jobs: string[] = []
  for (let i = 0; i < n; i++) {
    const via = instances[i % INSTANCES]!
    jobs.push((await post(via.app, '/noti/pub', { eventType: 'TRAINING', userId: `fleet-${i % 7}` })).json().eventId)
  }
  // three distinct completions of each job, one at each instance, at once: the plain form at
  // a, Event Grid from two topics at b and c (a sender that retries through another instance)
  await Promise.all(jobs.flatMap(id => [
    post(a.app, `/noti/complete/${id}`, { eventStatus: 'Y', eventDesc: 'a' }),
    post(b.app, '/noti/events', [{ id, topic: 'b', eventType: 'x.CompleteEvent', data: {} }]),
    post(c.app, '/noti/events', [{ id, topic: 'c', eventType: 'x.FailEvent', data: {} }])
  ]))
  for (const svc of instances) {
    // each instance's own read model gets every status (read-your-writes is per instance)
    await until('every status in this instance\'s read model', async () => {
      for (const id of jobs) {
        const job = (await svc.app.inject({ url: `/noti/jobs/${id}` })).json()
        if (job.status !== 'Y' && job.status !== 'N') return undefined
      }
      return true
    })
  }
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.completed.>'), completed + 3 * n, 'every completion was received')
  t.equal(await countOn(a.runtime, 'JOBS', 'jobs.status.>'), status + n, 'one status per job')
  const views = await Promise.all(instances.map(async svc => await Promise.all(jobs.map(async id => (await svc.app.inject({ url: `/noti/jobs/${id}` })).json()))))
  t.same(views[1], views[0], 'instance b has the same jobs as a')
  t.same(views[2], views[0], 'instance c has the same jobs as a')
}

t.test(`${INSTANCES} instances on one NATS: each worker message is handled once across the fleet`, async t => {
  const smtp = await smtpServer(t)
  const instances = await fleet(t, smtp.url, [process.env.FLEET_NATS_URL ?? await natsServer(t)])
  const [a, b, c] = instances as [Service, Service, Service]

  await t.test('a meeting with 40 participants: 40 invitations, one per recipient', async t => { await invitations(t, smtp, instances, 'All hands', 40) })
  await t.test('120 jobs, each completed at every instance at once: one status per job', async t => { await statuses(t, instances, 120) })

  await t.test('a meeting due for its reminder: one reminder per participant', async t => {
    const participants = people('rem', 12)
    const startsAt = wholeSeconds(3000)
    const created = await post(b.app, '/api/meetings', { title: 'Standup', startsAt, durationMinutes: 15, location: 'Here', participants, organizer })
    t.equal(created.statusCode, 201)
    const reminders = (): Mail[] => smtp.mails.filter(m => m.subject.startsWith('Reminder: Standup'))
    await until('12 reminders', () => reminders().length >= 12 ? true : undefined)
    // the timer is gone from every instance's read model and every effect is acked: nothing more can come
    await until('no timer left anywhere, every reminder recorded', async () => {
      if (!await nothingDue(instances)) return undefined
      return await countOn(a.runtime, 'NOTIFY', 'notify.result.>') >= 40 + 12 + 12 ? true : undefined
    })
    const got = perRecipient(reminders())
    t.equal(got.size, 12, 'every participant got one')
    t.same([...got.values()].filter(n => n !== 1), [], 'nobody got two')
    t.equal(await countOn(a.runtime, 'MEETINGS', 'timer.meetings.>'), 1, 'the reminder timer fired once')
    t.comment(`reminders sent by instance: ${spread(reminders())}; timers fired by instance: ${instances.map(s => s.runtime.ticker?.fired ?? 0).join('/')}`)
  })

  await t.test('60 jobs time out: one timer firing and one timeout status per job', async t => {
    const before = instances.map(s => s.runtime.ticker?.fired ?? 0)
    const jobs: string[] = []
    for (let i = 0; i < 60; i++) jobs.push((await post(instances[i % INSTANCES]!.app, '/noti/pub', { eventType: 'DEPLOY', userId: 'late', timeoutSeconds: 1 })).json().eventId)
    for (const id of jobs) {
      await until(`job ${id} timed out on c`, async () => (await c.app.inject({ url: `/noti/jobs/${id}` })).json().status === 'N' ? true : undefined)
    }
    await until('no due timer left anywhere', async () => await nothingDue(instances) ? true : undefined)
    t.equal(await countOn(a.runtime, 'JOBS', 'timer.jobs.>'), 60, 'one timer.fired per job')
    t.equal(await countOn(a.runtime, 'JOBS', 'jobs.status.>'), 120 + 60, 'one status per job')
    const fired = instances.map((s, i) => (s.runtime.ticker?.fired ?? 0) - before[i]!)
    t.equal(fired.reduce((x, y) => x + y, 0), 60, 'the tickers fired 60 in all')
    t.comment(`job timeouts fired by instance: ${fired.join('/')}`)
  })
})

t.test(`${INSTANCES} instances, each on its own node of a 3-node NATS cluster, streams at R3: invitations and statuses once`, async t => {
  const smtp = await smtpServer(t)
  const cluster = await natsCluster(t)
  const instances = await fleet(t, smtp.url, cluster.nodes.map(n => n.url), { STREAM_REPLICAS: '3' })
  await t.test('a meeting with 30 participants: 30 invitations, one per recipient', async t => { await invitations(t, smtp, instances, 'Cluster sync', 30) })
  await t.test('60 jobs, each completed at every instance at once: one status per job', async t => { await statuses(t, instances, 60) })
})
