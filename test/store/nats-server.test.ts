import t from 'tap'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnServer, waitFor200 } from '../fixtures/process.js'
import { PID_FILE, startNatsServer } from '../../src/store/nats-server.js'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function natsPidOf (storeDir: string): Promise<number> {
  return Number((await readFile(join(storeDir, PID_FILE), 'utf8')).split('\n')[0])
}

async function gone (pid: number): Promise<boolean> {
  // a process reparented to an init that does not reap stays a zombie: count that as gone
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat === '' || /\) [ZX] /.test(stat)
}

t.test('kill -9 of the service leaves its nats-server; the next start stops it and starts its own', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-embedded-'))
  const storeDir = join(dataDir, 'nats')
  const port = await freePort()
  const natsPort = await freePort()
  const env = { NATS_URL: '', DATA_DIR: dataDir, PORT: String(port), NATS_PORT: String(natsPort), JOB_SIMULATOR: 'off' }
  t.teardown(async () => {
    // whatever happened, no nats-server of this test outlives it
    const pid = await natsPidOf(storeDir).catch(() => undefined)
    if (pid !== undefined && !(await gone(pid))) process.kill(pid, 'SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
  })

  const first = spawnServer(t, env)
  await waitFor200(`http://127.0.0.1:${port}/readyz`)
  const orphan = await natsPidOf(storeDir)
  first.kill('SIGKILL')
  await once(first, 'exit')
  t.ok(alive(orphan) && !(await gone(orphan)), 'the embedded nats-server survived the kill -9 of its parent')

  // A process that is not its parent may not take it over from a live owner: here the owner
  // is dead, so only the service should stop it. Start the service again on the same store.
  const second = spawnServer(t, env)
  await waitFor200(`http://127.0.0.1:${port}/readyz`)
  t.ok(await gone(orphan), 'the orphaned nats-server was stopped')
  const own = await natsPidOf(storeDir)
  t.not(own, orphan, 'a new nats-server runs, named in the pid file')

  // a third start beside the running second one refuses to steal its server
  await t.rejects(startNatsServer({ port: natsPort, storeDir }), /belongs to process \d+, which is still running/)
  t.notOk(await gone(own), 'the running service keeps its nats-server')

  second.kill('SIGTERM')
  t.equal((await once(second, 'exit'))[0], 0, 'graceful shutdown')
  t.ok(await gone(own), 'a clean stop takes the nats-server along')
  await t.rejects(readFile(join(storeDir, PID_FILE)), { code: 'ENOENT' }, 'and removes the pid file')
})

t.test('a stale pid file naming another process kills nothing', async t => {
  const storeDir = await mkdtemp(join(tmpdir(), 'jetway-stale-pid-'))
  t.teardown(async () => { await rm(storeDir, { recursive: true, force: true }) })
  await mkdir(storeDir, { recursive: true })

  // an unrelated live process (as a reused pid would be)
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => { bystander.kill('SIGKILL') })
  await writeFile(join(storeDir, PID_FILE), `${bystander.pid!}\n999999\n`)
  const a = await startNatsServer({ port: -1, storeDir })
  t.teardown(a.stop)
  t.equal(a.replacedPid, undefined, 'nothing replaced')
  t.ok(alive(bystander.pid!), 'the unrelated process still runs')
  await a.stop()

  // a nats-server, but one serving another store dir
  const otherDir = await mkdtemp(join(tmpdir(), 'jetway-other-store-'))
  t.teardown(async () => { await rm(otherDir, { recursive: true, force: true }) })
  const other = await startNatsServer({ port: -1, storeDir: otherDir })
  t.teardown(other.stop)
  await writeFile(join(storeDir, PID_FILE), `${other.process.pid!}\n999999\n`)
  const b = await startNatsServer({ port: -1, storeDir })
  t.teardown(b.stop)
  t.equal(b.replacedPid, undefined)
  t.notOk(await gone(other.process.pid!), 'the nats-server of another store still runs')
})
