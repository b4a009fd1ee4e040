// A child of bench/sse.ts: opens COUNT SSE connections to URL (a process holds at most
// ~20k sockets here, so the fan-out is spread over several of these), then reports over IPC
// the monotonic clock (hrtime, shared by all processes) at which each connection got an event.
import http from 'node:http'

const url = process.env.URL!
const count = Number(process.env.COUNT)
const arrivals: string[] = []
const requests: http.ClientRequest[] = []

async function open (): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url, { agent: false }, res => {
      if (res.statusCode !== 200) { reject(new Error(`SSE answered ${res.statusCode}`)); return }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        // the stream opens with `event: position` (its id at open): only the status counts
        if (chunk.includes('\nevent: job.status.changed')) {
          arrivals.push(process.hrtime.bigint().toString())
          if (arrivals.length === count) process.send!({ arrivals })
        }
      })
      resolve()
    })
    req.on('error', reject)
    requests.push(req)
  })
}

for (let i = 0; i < count; i += 250) await Promise.all(Array.from({ length: Math.min(250, count - i) }, open))
process.send!({ ready: true })
process.on('message', (msg: { close?: boolean }) => {
  if (msg.close === true) { for (const r of requests) r.destroy(); process.exit(0) }
})
