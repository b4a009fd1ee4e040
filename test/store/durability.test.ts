import t from 'tap'
import { chmod, mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { planSync, parseNatsSync, atLeast } from '../../src/store/durability.js'
import { CONFIG_FILE, startNatsServer } from '../../src/store/nats-server.js'
import { loadConfig } from '../../src/config.js'
import { startRuntime } from '../../src/runtime.js'
import { buildApp } from '../../src/app.js'
import { freePort } from '../fixtures/process.js'

// What an acknowledged write survives: the embedded nats-server runs with sync_interval:
// always where it has it (2.10+), NATS_SYNC overrides, and a 2.9 server (the Debian package,
// here) starts with one warning naming the risk; /readyz says which mode is in force.

t.test('the plan per server version and NATS_SYNC', async t => {
  t.ok(atLeast('2.10.0', 2, 10))
  t.ok(atLeast('3.0.1', 2, 10))
  t.notOk(atLeast('2.9.10', 2, 10))
  t.match(planSync('2.10.0', parseNatsSync(undefined)), { jetstreamSetting: 'sync_interval: always', durability: { mode: 'always', server: '2.10.0' }, warning: undefined })
  t.match(planSync('2.12.1', parseNatsSync('always')), { jetstreamSetting: 'sync_interval: always', durability: { mode: 'always' } })
  t.match(planSync('2.11.4', parseNatsSync('1s')), { jetstreamSetting: 'sync_interval: "1000ms"', durability: { mode: 'interval', syncInterval: '1s' }, warning: /NATS_SYNC=1s: an OS crash or power loss loses what was acknowledged in the last 1s/ })
  t.match(planSync('2.11.4', parseNatsSync('default')), { jetstreamSetting: undefined, durability: { mode: 'interval', syncInterval: '2m' }, warning: /NATS_SYNC=default/ })
  const old = planSync('2.9.10', parseNatsSync(undefined))
  t.match(old, { jetstreamSetting: undefined, durability: { mode: 'interval', syncInterval: '2m', server: '2.9.10' } })
  t.match(old.warning, /nats-server 2\.9\.10 has no sync_interval \(2\.10 and later\).*an OS crash or power loss can lose up to 2m of acknowledged writes/)
  t.match(planSync('2.9.10', parseNatsSync('always')).warning, /NATS_SYNC=always needs 2\.10 too/)

  t.match(loadConfig({ NATS_SYNC: '250ms' }).natsSync, { mode: 'interval', ms: 250 })
  t.match(loadConfig({}).natsSync, { mode: 'auto' })
  t.throws(() => loadConfig({ NATS_SYNC: 'sometimes' }), /NATS_SYNC/)
  t.throws(() => loadConfig({ NATS_SYNC: '0' }), /NATS_SYNC=0: takes always .*, default .*, or a duration from 1ms/)
})

t.test('nats-server 2.9.10: no sync_interval setting, the 2-minute interval and a warning', async t => {
  const storeDir = await mkdtemp(join(tmpdir(), 'jetway-sync-'))
  t.teardown(async () => { await rm(storeDir, { recursive: true, force: true }) })
  const server = await startNatsServer({ port: -1, storeDir })
  t.teardown(server.stop)
  t.match(server.durability, { mode: 'interval', syncInterval: '2m', server: '2.9.10' })
  t.match(server.syncWarning, /has no sync_interval/)
  t.notOk((await readdir(storeDir)).includes(CONFIG_FILE), 'no config file: 2.9 refuses the setting')
})

t.test('a server that reports 2.10 is started with sync_interval: always in its config file', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'jetway-sync-shim-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  // a stand-in that says it is 2.10.22, records its arguments, and runs the 2.9 binary without
  // the config file (which 2.9 would refuse)
  const shim = join(dir, 'nats-server')
  await writeFile(shim, `#!/bin/sh
if [ "$1" = "--version" ]; then echo "nats-server: v2.10.22"; exit 0; fi
echo "$@" > "${dir}/args"
if [ "$1" = "-c" ]; then shift 2; fi
exec nats-server "$@"
`)
  await chmod(shim, 0o755)
  const storeDir = join(dir, 'store')
  const server = await startNatsServer({ port: -1, storeDir, binary: shim })
  t.teardown(server.stop)
  t.match(server.durability, { mode: 'always', server: '2.10.22' })
  t.equal(server.syncWarning, undefined, 'no warning')
  const args = (await readFile(join(dir, 'args'), 'utf8')).trim().split(' ')
  t.same(args.slice(0, 2), ['-c', join(storeDir, CONFIG_FILE)], 'the config file comes first, the flags override it')
  t.match(await readFile(join(storeDir, CONFIG_FILE), 'utf8'), /jetstream \{\n {2}sync_interval: always\n\}/)
})

t.test('the embedded server on 2.9: one warning at start, the mode in /readyz', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'jetway-sync-svc-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const lines: { level: number, msg: string }[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l)); done() } })
  const config = loadConfig({ DATA_DIR: dataDir, NATS_PORT: String(await freePort()), PROJECTIONS_THREAD: 'off', JOB_SIMULATOR: 'off', LOG_LEVEL: 'info' })
  const runtime = await startRuntime(config, pino({ level: 'info' }, sink))
  t.teardown(async () => { await runtime.close() })
  const app = await buildApp(runtime)
  t.teardown(async () => { await app.close() })
  const warnings = lines.filter(l => l.level === 40 && /sync_interval/.test(l.msg))
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0]?.msg, /an OS crash or power loss can lose up to 2m of acknowledged writes/)
  const readyz = (await app.inject({ url: '/readyz' })).json()
  t.match(readyz.durability, { mode: 'interval', syncInterval: '2m', server: '2.9.10', note: /OS crash or power loss loses what was acknowledged in the last 2m/ })
  const overview = (await app.inject({ url: '/api/admin/overview' })).json()
  t.match(overview.instance.durability, { mode: 'interval', syncInterval: '2m' })
})
