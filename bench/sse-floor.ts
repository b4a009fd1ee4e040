// A child of bench/sse.ts: the floor of a broadcast on this machine. A bare node:http server
// (no Fastify, no NATS, no Jetway) holds every GET as an open SSE response and, on POST /fire,
// writes one pre-encoded frame of a job status's size to all of them in one loop. The same
// client processes time it as they time Jetway's broadcast. Reports its port over IPC.
import http from 'node:http'

const open = new Set<http.ServerResponse>()
const frame = Buffer.from(`id: 1\nevent: job.status.changed\ndata: ${JSON.stringify({ eventId: '00000000-0000-4000-8000-000000000000', eventStatus: 'Y', eventDesc: 'completed', eventType: 'DEPLOY', userId: 'fan' })}\n\n`)

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    for (const r of open) r.write(frame)
    res.writeHead(204).end()
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write('retry: 2000\n\nid: 0\nevent: position\ndata:\n\n')
  open.add(res)
  res.on('close', () => open.delete(res))
})
server.maxConnections = 30_000
server.keepAliveTimeout = 0
server.requestTimeout = 0
server.listen(0, '127.0.0.1', () => { process.send!({ port: (server.address() as { port: number }).port }) })
process.on('message', () => { server.closeAllConnections(); server.close(); process.exit(0) })
