import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { natsServer } from './fixtures/nats.js'
import { freePort } from './fixtures/process.js'

// src/server.ts as a user starts it: a start that fails for a variable's sake ends with one
// line naming the variable, never a stack trace.

interface Outcome { code: number | null, stdout: string, stderr: string }

/** Runs src/server.ts to its end; a start that does not end within the bound is killed (and fails). */
async function run (env: Record<string, string>): Promise<Outcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  clearTimeout(kill)
  return { code, stdout, stderr }
}

async function dataDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jetway-start-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function endsWithOneLine (t: Test, outcome: Outcome, line: RegExp): void {
  t.equal(outcome.code, 1, 'exits with 1')
  const lines = outcome.stderr.trim().split('\n')
  t.match(lines.at(-1), line, 'the last line names the variable')
  t.notMatch(outcome.stderr + outcome.stdout, /\n\s+at |"stack"/, 'no stack trace')
}

t.test('a port in use: one line naming PORT, after the runtime started and closed again', async t => {
  const natsUrl = await natsServer(t)
  const taken: Server = createServer()
  const port = await freePort()
  await new Promise<void>(resolve => taken.listen(port, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const outcome = await run({ NATS_URL: natsUrl, DATA_DIR: await dataDir(), PORT: String(port) })
  endsWithOneLine(t, outcome, new RegExp(`^jetway: cannot start: PORT=${port}: 127\\.0\\.0\\.1:${port} is in use; takes a port no other process listens on \\(0: any free port\\)$`))
})

t.test('HOST not an address of this machine: one line naming HOST', async t => {
  const natsUrl = await natsServer(t)
  // TEST-NET-1 (RFC 5737): on no interface; binding to it fails without a packet sent
  const outcome = await run({ NATS_URL: natsUrl, DATA_DIR: await dataDir(), PORT: String(await freePort()), HOST: '192.0.2.1' })
  endsWithOneLine(t, outcome, /^jetway: cannot start: HOST=192\.0\.2\.1: 192\.0\.2\.1 is not an address of this machine; takes an IP address or a host name of this machine/)
})

t.test('no NATS server at NATS_URL: one line naming NATS_URL', async t => {
  const port = await freePort()
  const outcome = await run({ NATS_URL: `nats://127.0.0.1:${port}`, DATA_DIR: await dataDir(), PORT: String(await freePort()) })
  endsWithOneLine(t, outcome, new RegExp(`^jetway: cannot start: NATS_URL=nats://127\\.0\\.0\\.1:${port}: no NATS server answers there; takes`))
})

t.test('PORT=99999 stops before anything starts (no nats-server child, no data directory)', async t => {
  const dir = join(await dataDir(), 'never-made')
  const outcome = await run({ DATA_DIR: dir, PORT: '99999', NATS_PORT: String(await freePort()) })
  t.equal(outcome.code, 1)
  t.equal(outcome.stderr.trim(), 'jetway: invalid configuration:\n  PORT=99999: takes a port number from 0 to 65535 (0: any free port)')
  t.notOk(existsSync(dir), 'DATA_DIR was not made: the start stopped at loadConfig')
})
