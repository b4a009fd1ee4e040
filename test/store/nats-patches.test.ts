import t from 'tap'
import { readFileSync } from 'node:fs'
import { ProtocolHandler, RequestOne } from '@nats-io/nats-core/internal'
import { natsPatches, patchMethods, sourceOf } from '../../src/store/nats-patches.js'

// src/store/nats-patches.ts replaces internals of @nats-io/nats-core. A nats.js whose methods
// are not the source a patch was written against must fail here, not pass with the patch
// silently skipped (or, worse, applied over code it no longer matches).

t.test('every patch applies to the nats.js installed', async t => {
  const patches = natsPatches()
  t.equal(patches.length, 2, 'two patches')
  for (const patch of patches) t.ok(patch.applied, `${patch.name}: ${patch.reason ?? 'applied'}`)
  t.match(sourceOf(RequestOne.prototype.cancel), /this\[answered\]/, 'RequestOne.cancel is the patched one')
  t.match(sourceOf(ProtocolHandler.prototype.sendCommand), /setImmediate/, 'ProtocolHandler.sendCommand is the patched one')
})

t.test('the @nats-io packages are pinned exactly, and the installed ones are those versions', async t => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
  const natsPackages = Object.entries(pkg.dependencies).filter(([name]) => name.startsWith('@nats-io/'))
  t.ok(natsPackages.length >= 3)
  for (const [name, range] of natsPackages) {
    t.match(range, /^\d+\.\d+\.\d+$/, `${name} pinned exactly (${range})`)
    const installed = (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version
    t.equal(installed, range, `${name} installed at ${range}`)
  }
  t.equal(pkg.dependencies['@nats-io/nats-core'], '3.4.0', 'the version the patches were written against')
})

t.test('a method that is not the source a patch expects: nothing replaced, a warning, the reason recorded', async t => {
  class Other { send (x: number): number { return x + 1 } keep (): string { return 'k' } }
  const before = Other.prototype.send
  const warnings: Error[] = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const refused = patchMethods('test patch', Other.prototype, { send: 'send(x) { return x + 2 }', keep: sourceOf(Other.prototype.keep)! }, () => ({ send: () => 0 }))
  t.same(refused, { name: 'test patch', applied: false, reason: 'send is not the source the patch was written against' })
  t.equal(Other.prototype.send, before, 'the method is left as it was')
  await new Promise(resolve => setImmediate(resolve))
  t.ok(warnings.some(w => /"test patch" not applied: send is not the source/.test(w.message)), 'a process warning says so')

  const missing = patchMethods('test patch 2', Other.prototype, { gone: 'gone() {}' }, () => ({ gone: () => 0 }))
  t.equal(missing.applied, false, 'a method that is gone')

  const applied = patchMethods('test patch 3', Other.prototype, { send: sourceOf(Other.prototype.send)! }, ({ send }) => ({
    send (this: Other, x: number) { return (send as (this: Other, x: number) => number).call(this, x) * 10 }
  }))
  t.equal(applied.applied, true)
  t.equal(new Other().send(1), 20, 'the patch wraps the original')
})
