import t from 'tap'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { startService } from './fixtures/service.js'
import { mismatchOf, runWalkthrough, walkthroughsOf } from './fixtures/walkthroughs.js'

// The README's walkthroughs, run as a user pastes them (bash, curl, node) against a real service
// that listens on a port, with the settings the README tells a user to start with:
// REMINDER_LEAD=5s, RELAY_ALLOW=127.0.0.0/8, and the demo job simulator `npm start` runs. Each
// step's output is compared, loosely, with the `#` lines the README shows under it
// (test/fixtures/walkthroughs.ts). The blocks say localhost:3000 and target port 30000, as a
// user types them; here they get free ports. The five run side by side on one service, as
// they must not depend on each other.

const README = new URL('../README.md', import.meta.url)
const CAPABILITIES = ['collector', 'jobs', 'meetings', 'tasks', 'relay']

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

const walkthroughs = walkthroughsOf(await readFile(README, 'utf8'))

t.test('the README has one walkthrough per capability, each showing what its steps print', async t => {
  t.same(walkthroughs.map(w => w.name), CAPABILITIES)
  for (const w of walkthroughs) {
    const shown = w.steps.filter(s => s.expected.length > 0)
    t.ok(shown.length >= 5, `${w.name}: ${shown.length} steps show their output`)
  }
})

t.test('every walkthrough runs top to bottom as written', async t => {
  const port = await freePort()
  const target = await freePort()
  await startService(t, {
    listen: port,
    env: { PORT: String(port), REMINDER_LEAD: '5s', RELAY_ALLOW: '127.0.0.0/8', JOB_SIMULATOR: 'on' }
  })
  const rewrite = (text: string): string => text
    .replace(/\b(localhost|127\.0\.0\.1):3000(?!\d)/g, `$1:${port}`)
    .replace(/(?<!\d)30000(?!\d)/g, String(target))
  const runs = await Promise.all(walkthroughs.map(async w => await runWalkthrough(w, { rewrite, timeoutMs: 150_000 })))
  walkthroughs.forEach((w, i) => {
    const run = runs[i]!
    t.test(w.name, async t => {
      t.ok(run.finished, `${w.name} ran to its end`, run.finished ? {} : { output: run.all.slice(-4000) })
      w.steps.forEach((step, k) => {
        if (step.expected.length === 0) return
        const output = run.outputs[k] ?? ''
        const missing = mismatchOf(output, step.expected.map(rewrite))
        t.equal(missing, undefined, `README line ${step.line}: ${step.text.split('\n').find(l => !l.startsWith('#'))?.slice(0, 90) ?? ''}`, { output: output.slice(0, 3000) })
      })
    })
  })
})
