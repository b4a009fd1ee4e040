import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { startService, post } from '../fixtures/service.js'
import { httpTarget, type Received } from '../fixtures/http-target.js'
import { natsServer } from '../fixtures/nats.js'
import { until } from '../fixtures/wait.js'

// Two instances on one NATS: one dispatches a trigger at a time (its lease in stream LEASES),
// each event is delivered once, and when the holder stops the other takes over.

async function emit (app: FastifyInstance, id: string, subject: string): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/event', headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/tests', 'ce-type': 'com.example.tick', 'ce-subject': subject, 'content-type': 'application/json' }, payload: '{}' })
  if (res.statusCode !== 202) throw new Error(res.body)
}

t.test('one instance dispatches a trigger; the other takes over when it stops', async t => {
  const subscriber = await httpTarget(t)
  const natsUrl = await natsServer(t)
  const env = { RELAY_ALLOW: '127.0.0.0/8', RELAY_LEASE_TTL: '1s' }
  const a = await startService(t, { natsUrl, env })
  const b = await startService(t, { natsUrl, env })
  const created = await post(a.app, '/api/triggers', { name: 'ticks', filter: { attributes: { type: 'com.example.tick' } }, subscriber: { url: subscriber.origin } })
  t.equal(created.statusCode, 201)
  const holders = await until('a dispatcher', () => {
    const who = [a, b].filter(s => s.runtime.triggers?.dispatching.includes('ticks') === true)
    return who.length > 0 ? who : undefined
  })
  t.equal(holders.length, 1, 'one holder')
  // and it stays one through several renewals
  for (let i = 0; i < 10; i++) {
    await emit(a.app, `e${i}`, `k${i % 3}`)
    t.equal([a, b].filter(s => s.runtime.triggers?.dispatching.includes('ticks') === true).length, 1)
  }
  await until('ten deliveries', () => subscriber.received.length >= 10 ? true : undefined)
  const holder = holders[0]!
  const other = holder === a ? b : a
  await holder.close()
  await until('the takeover', () => other.runtime.triggers?.dispatching.includes('ticks') === true ? true : undefined)
  await emit(other.app, 'after', 'k0')
  await until('the delivery after the takeover', () => subscriber.received.length >= 11 ? true : undefined)
  const ids = subscriber.received.map((r: Received) => String(r.headers['ce-id']))
  t.same(ids.slice(0, 10).sort(), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9'])
  t.same(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'each event once')
  t.same(ids.filter(id => ['e0', 'e3', 'e6', 'e9'].includes(id)), ['e0', 'e3', 'e6', 'e9'], 'subject k0 in order')
  t.equal(ids[10], 'after')
})
