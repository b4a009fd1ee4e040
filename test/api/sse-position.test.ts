import t from 'tap'
import { startService, post, seqOf } from '../fixtures/service.js'
import { subscribe } from '../fixtures/sse.js'
import { until } from '../fixtures/wait.js'

// What the README says the opening `id:` of /noti/users/{userId}/sub is: the JOBS sequence of
// the last job status the instance's tail has seen, not JOBS's last sequence (requests and
// completions land in JOBS too and do not move it).

t.test('the per-user stream opens at the last status the tail has seen, below the JOBS requests after it', async t => {
  const { app, url, runtime } = await startService(t, { env: { WORKER_BACKOFF: '50ms', SSE_HEARTBEAT: '1s' }, listen: 0 })
  const a = (await post(app, '/noti/pub', { eventType: 'TEST', userId: 'ann' })).json().eventId as string
  const sub = subscribe(t, `${url}/noti/sub/${a}`)
  t.equal((await post(app, `/noti/complete/${a}`, { eventStatus: 'Y' })).statusCode, 200)
  const [status] = await sub.until(1)
  const statusSeq = Number(status!.id)
  await until('the tail has seen the status', () => runtime.hubs.jobs.highWater >= statusSeq ? true : undefined)

  // a later request (another user's) moves JOBS on, not the position
  const later = await post(app, '/noti/pub', { eventType: 'TEST', userId: 'bob' })
  const last = (await runtime.jsm.streams.info('JOBS')).state.last_seq
  t.equal(last, seqOf(later), 'JOBS ends with the request')
  t.ok(last > statusSeq)

  const r = await fetch(`${url}/noti/users/ann/sub`)
  const reader = r.body!.getReader()
  let text = ''
  while (!/event: position\ndata:\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
  await reader.cancel()
  t.match(text, new RegExp(`^retry: 2000\\n\\nid: ${statusSeq}\\nevent: position\\n`), `opens at ${statusSeq}, the last status, not ${last}`)
})
