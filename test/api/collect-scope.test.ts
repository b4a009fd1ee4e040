import t from 'tap'
import { createSigner } from 'fast-jwt'
import { startService, post } from '../fixtures/service.js'

// Collector idempotency is scoped to the user: (user_id, event_id). One user cannot suppress
// another's events by reusing an event_id.

const SECRET = 'a-test-secret-of-enough-length'
const sign = createSigner({ key: SECRET, expiresIn: 600_000 })
const as = (sub: string) => ({ authorization: `Bearer ${sign({ sub })}` })

t.test('two users, the same event_id: both stored; the same user twice: one', async t => {
  const { app, runtime } = await startService(t, { env: { AUTH_MODE: 'jwt', JWT_SECRET: SECRET } })
  // mallory learns (or guesses) the id alice's client will use next, and sends it first
  const mallory = await post(app, '/api/collect', { event_id: 'order-1001', event: 'purchase', user_id: 'mallory' }, as('mallory'))
  t.equal(mallory.statusCode, 200)
  const alice = await post(app, '/api/collect', { event_id: 'order-1001', event: 'purchase', user_id: 'alice', parameters: { price: 5 } }, as('alice'))
  t.equal(alice.statusCode, 200)
  t.equal(alice.headers['jetway-duplicate'], 'false', 'not a duplicate of another user\'s event')
  t.not(alice.headers['jetway-seq'], mallory.headers['jetway-seq'])

  const again = await post(app, '/api/collect', { event_id: 'order-1001', event: 'purchase', user_id: 'alice', parameters: { price: 5 } }, as('alice'))
  t.equal(again.headers['jetway-duplicate'], 'true', 'the same user\'s retry is a duplicate')
  t.equal(again.headers['jetway-seq'], alice.headers['jetway-seq'])

  const batch = await post(app, '/api/collect/batch', { events: [{ event_id: 'order-1001', event: 'purchase', user_id: 'bob' }, { event_id: 'order-1001', event: 'purchase', user_id: 'bob' }] }, as('bob'))
  t.match(batch.json(), { accepted: 1, duplicates: 1, rejected: 0 })
  t.equal((await runtime.jsm.streams.info('COLLECT')).state.messages, 3, 'three users, three events')

  const seq = batch.json().results[0].seq as number
  for (const user of ['alice', 'mallory', 'bob']) {
    const found = await app.inject({ url: `/api/event/${user}?min_seq=${seq}`, headers: as(user) })
    t.same(found.json().items.map((e: { event_id: string, user_id: string }) => [e.user_id, e.event_id]), [[user, 'order-1001']], `${user}'s event is stored`)
  }
  t.same((await app.inject({ url: `/api/event/alice?min_seq=${seq}`, headers: as('alice') })).json().items[0].parameters, { price: 5 })
})
