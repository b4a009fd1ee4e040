import type { JetStreamManager } from '@nats-io/jetstream'

// What JetStream says about Jetway's streams and durable consumers, through jsm: what
// `nats stream ls` and `nats consumer ls` show, as data. Read by the console's admin API and
// by /metrics at each scrape; bounded, so a server with many streams costs a fixed number of
// requests. Ephemeral consumers (the ordered consumers of hubs, projections and tails, one per
// process) are left out: they come and go with processes and say nothing to an operator.

export interface StreamSummary {
  name: string
  description: string
  subjects: string[]
  messages: number
  bytes: number
  firstSeq: number
  lastSeq: number
  /** time of the last message; null when the stream is empty */
  lastTime: string | null
  consumers: number
  replicas: number
  storage: string
}

export interface ConsumerSummary {
  stream: string
  name: string
  description: string
  filter: string
  /** messages in the stream not yet delivered to the consumer */
  pending: number
  /** delivered, not yet acknowledged */
  ackPending: number
  /** messages delivered more than once */
  redelivered: number
  /** pull requests waiting for messages: workers that are listening */
  waiting: number
  /** stream sequence of the last delivered and of the acknowledged floor */
  deliveredSeq: number
  ackFloorSeq: number
}

export interface NatsState {
  streams: StreamSummary[]
  consumers: ConsumerSummary[]
  /** true when a bound cut the listing short */
  truncated: boolean
}

export const MAX_STREAMS = 64
export const MAX_CONSUMERS_PER_STREAM = 64

export async function natsState (jsm: JetStreamManager, limits = { streams: MAX_STREAMS, consumersPerStream: MAX_CONSUMERS_PER_STREAM }): Promise<NatsState> {
  const streams: StreamSummary[] = []
  let truncated = false
  for await (const info of jsm.streams.list()) {
    if (streams.length >= limits.streams) { truncated = true; break }
    const s = info.state
    streams.push({
      name: info.config.name,
      description: info.config.description ?? '',
      subjects: info.config.subjects ?? [],
      messages: s.messages,
      bytes: s.bytes,
      firstSeq: s.first_seq,
      lastSeq: s.last_seq,
      lastTime: s.messages > 0 && s.last_ts !== '' && !s.last_ts.startsWith('0001-') ? s.last_ts : null,
      consumers: s.consumer_count,
      replicas: info.config.num_replicas,
      storage: String(info.config.storage)
    })
  }
  streams.sort((a, b) => a.name.localeCompare(b.name))
  const perStream = await Promise.all(streams.map(async stream => {
    const out: ConsumerSummary[] = []
    for await (const c of jsm.consumers.list(stream.name)) {
      if (c.config.durable_name === undefined || c.config.durable_name === '') continue
      if (out.length >= limits.consumersPerStream) { truncated = true; break }
      out.push({
        stream: stream.name,
        name: c.name,
        description: c.config.description ?? '',
        filter: c.config.filter_subject ?? (c.config.filter_subjects ?? []).join(','),
        pending: c.num_pending,
        ackPending: c.num_ack_pending,
        redelivered: c.num_redelivered,
        waiting: c.num_waiting,
        deliveredSeq: c.delivered.stream_seq,
        ackFloorSeq: c.ack_floor.stream_seq
      })
    }
    return out.sort((a, b) => a.name.localeCompare(b.name))
  }))
  return { streams, consumers: perStream.flat(), truncated }
}

/** Dead letters in DLQ and how many were replayed, from the per-subject counts of one stream info. */
export async function deadLetterCounts (jsm: JetStreamManager): Promise<{ letters: number, replayed: number }> {
  const info = await jsm.streams.info('DLQ', { subjects_filter: 'dlq.>' }).catch(() => undefined)
  let letters = 0
  let replayed = 0
  for (const [subject, n] of Object.entries(info?.state.subjects ?? {})) {
    if (subject === 'dlq.replayed') replayed += n
    else letters += n
  }
  return { letters, replayed }
}
