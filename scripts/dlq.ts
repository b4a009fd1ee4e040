// npm run dlq -- list            the dead letters, oldest first
// npm run dlq -- replay <seq>    put the dead letter at DLQ sequence <seq> back on its subject
import { pino } from 'pino'
import { connect } from '@nats-io/transport-node'
import { loadConfigOrExit } from '../src/config.js'
import { startRuntime } from '../src/runtime.js'
import { listDeadLetters, replayDeadLetter } from '../src/workers/dead-letters.js'

const [command, arg] = process.argv.slice(2)
if (command !== 'list' && command !== 'replay') {
  console.error('usage: npm run dlq -- list | replay <dlq-seq>')
  process.exit(1)
}
const config = loadConfigOrExit()
if (config.natsUrl === undefined) {
  const url = `nats://127.0.0.1:${config.natsPort}`
  const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined)
  if (nc !== undefined) { await nc.close(); config.natsUrl = url }
}
const runtime = await startRuntime({ ...config, roles: new Set() }, pino({ level: 'warn' }), { startProjections: false })
try {
  if (command === 'list') {
    const letters = await listDeadLetters(runtime.jsm)
    if (letters.length === 0) console.log('no dead letters')
    for (const l of letters) {
      console.log(`${l.dlqSeq}\t${l.time}\t${l.stream}/${l.consumer}\tseq ${l.seq}\t${l.subject}\t${l.deliveries} deliveries\t${l.replayedAs === undefined ? 'not replayed' : `replayed as ${l.replayedAs}`}\t${l.error}`)
    }
  } else {
    const seq = Number(arg)
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error('replay needs the DLQ sequence of a dead letter (see npm run dlq -- list)')
    const replayed = await replayDeadLetter(runtime.js, runtime.jsm, seq, runtime.clock)
    console.log(`replayed DLQ ${seq} onto ${replayed.subject} as sequence ${replayed.seq}`)
  }
} catch (err) {
  console.error(`dlq: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await runtime.close()
}
