import t from 'tap'
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNatsServer, type NatsServer } from '../../src/store/nats-server.js'
import { startService, post, countOn } from '../fixtures/service.js'
import { until } from '../fixtures/wait.js'
import { Subjects } from '../../src/store/subjects.js'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'

// A restore of a backup older than an erasure brings the user's data back into the streams;
// the next start applies every erasure again and drops it (read models) and purges it (streams)
// again. The backup here is the nats-server's store copied while it was stopped, the erasure's
// stream ERASURES kept from after (as the README says to restore): the streams come back with
// their sequences, as a JetStream snapshot restores them.

const EVE = 'eve'
const ENV = { JOB_SIMULATOR: 'off' }

t.test('every start applies the erasures again: a restored older backup brings nothing back', async t => {
  const storeDir = await mkdtemp(join(tmpdir(), 'jetway-restore-nats-'))
  const backupDir = await mkdtemp(join(tmpdir(), 'jetway-restore-backup-'))
  t.teardown(async () => {
    await rm(storeDir, { recursive: true, force: true })
    await rm(backupDir, { recursive: true, force: true })
  })
  let server: NatsServer | undefined
  t.teardown(async () => { await server?.stop() })
  const startNats = async (): Promise<string> => {
    server = await startNatsServer({ port: -1, storeDir })
    return server.url
  }

  // before: Eve's and Bob's events and jobs
  let svc = await startService(t, { natsUrl: await startNats(), env: ENV })
  for (let i = 0; i < 3; i++) await post(svc.app, '/api/collect', { event_id: `e${i}`, event: 'view', user_id: EVE })
  await post(svc.app, '/api/collect', { event_id: 'b0', event: 'view', user_id: 'bob' })
  const eveJob = (await post(svc.app, '/noti/pub', { eventType: 'TEST', userId: EVE })).json().eventId as string
  await svc.close()
  await server!.stop()
  await cp(join(storeDir, 'jetstream'), join(backupDir, 'jetstream'), { recursive: true })

  // the erasure
  svc = await startService(t, { natsUrl: await startNats(), env: ENV })
  const { erasureId } = (await svc.app.inject({ method: 'DELETE', url: `/api/users/${EVE}` })).json()
  await until('the erasure done', async () => (await svc.app.inject({ url: `/api/erasures/${erasureId as string}` })).json().status === 'done' ? true : undefined)
  t.equal(await countOn(svc.runtime, 'COLLECT', Subjects.collectOfUser(EVE)), 0)
  await svc.close()
  await server!.stop()

  // the restore: every stream from the backup, but ERASURES as it is now
  const streamsDir = join(storeDir, 'jetstream', '$G', 'streams')
  for (const name of await readdir(streamsDir)) {
    if (name === 'ERASURES') continue
    await rm(join(streamsDir, name), { recursive: true, force: true })
    await cp(join(backupDir, 'jetstream', '$G', 'streams', name), join(streamsDir, name), { recursive: true })
  }

  // the restored store holds Eve's events again
  const natsUrl = await startNats()
  const nc = await connect({ servers: natsUrl })
  const info = await (await jetstreamManager(nc)).streams.info('COLLECT', { subjects_filter: Subjects.collectOfUser(EVE) })
  t.equal(Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0), 3, 'the backup brought Eve\'s events back into COLLECT')
  await nc.close()

  // a start on the restored store, with an empty DATA_DIR
  const restored = await startService(t, { natsUrl, env: ENV })
  await until('Eve\'s events purged again', async () => await countOn(restored.runtime, 'COLLECT', Subjects.collectOfUser(EVE)) === 0 ? true : undefined)
  await until('Eve\'s job purged again', async () => await countOn(restored.runtime, 'JOBS', `jobs.*.${eveJob}`) === 0 ? true : undefined)
  const events = async (user: string): Promise<unknown[]> => (await restored.app.inject({ url: `/api/event/${user}` })).json().items
  await until('Eve\'s rows dropped again', async () => (await events(EVE)).length === 0 ? true : undefined)
  t.equal((await restored.app.inject({ url: `/noti/jobs/${eveJob}` })).statusCode, 404, 'Eve\'s job')
  t.equal((await events('bob')).length, 1, 'Bob\'s event is there')
  t.match((await restored.app.inject({ url: `/api/erasures/${erasureId as string}` })).json(), { status: 'done' })
})
