import { readdir, readFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { duplicateWindowOf, RETAINED_STREAMS, type RetainedStream } from './retention.js'
import { unavailableKind } from './nats-errors.js'

export const STREAMS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'streams')

/**
 * streams/<NAME>.json, with replicas, storage, retention (RETENTION_<NAME> as max_age) and
 * duplicate window taken from config (src/store/retention.ts).
 */
export async function loadStreamConfigs (config: Pick<Config, 'stream' | 'retention'>, dir = STREAMS_DIR): Promise<StreamConfig[]> {
  const files = (await readdir(dir)).filter(f => /^[A-Z0-9_]+\.json$/.test(f)).sort()
  return await Promise.all(files.map(async f => {
    const cfg = JSON.parse(await readFile(join(dir, f), 'utf8')) as StreamConfig
    const retentionMs = (RETAINED_STREAMS as readonly string[]).includes(cfg.name) ? config.retention[cfg.name as RetainedStream] : undefined
    return {
      ...cfg,
      num_replicas: config.stream.replicas,
      storage: config.stream.storage,
      max_age: (retentionMs ?? 0) * 1_000_000,
      duplicate_window: duplicateWindowOf(config.stream.duplicateWindowMs, retentionMs) * 1_000_000
    } as StreamConfig
  }))
}

/**
 * How long a start waits, at most, for a cluster still forming: its nodes starting together
 * (a service and its NATS cluster brought up at once), JetStream has no meta leader at first
 * (503), then cannot place a stream on as many peers as its replicas ("no suitable peers").
 */
export const FORMING_WAIT_MS = 60_000

/**
 * Runs `step` again, with backoff (100 ms doubling to 2 s), while it fails as a cluster that
 * cannot serve yet fails (src/store/nats-errors.ts), until `waitMs` has passed; then, or on any
 * other error, throws what it threw.
 */
async function whileForming<T> (what: string, step: () => Promise<T>, log: Logger, waitMs: number): Promise<T> {
  const deadline = Date.now() + waitMs
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await step()
    } catch (err) {
      const kind = unavailableKind(err)
      if (kind === undefined || Date.now() + delay > deadline) throw err
      log.warn({ what, kind, err: (err as Error).message, retryInMs: delay }, 'JetStream not ready (a cluster still forming?): retrying')
      await sleep(delay)
    }
  }
}

/** The JetStream manager of a connection, once JetStream answers (a cluster forming is waited for). */
export async function jetStreamManagerOf (nc: NatsConnection, log: Logger, waitMs = FORMING_WAIT_MS): Promise<JetStreamManager> {
  return await whileForming('JetStream', async () => await jetstreamManager(nc), log, waitMs)
}

/**
 * Creates each stream, or updates it where JetStream allows, each waiting (bounded) for a
 * cluster still forming. A server silently drops settings it does not know (2.9 does for newer
 * ones), so what it returns is compared with the file and every difference is logged as an error.
 */
export async function applyStreams (jsm: JetStreamManager, configs: StreamConfig[], log: Logger, waitMs = FORMING_WAIT_MS): Promise<void> {
  for (const wanted of configs) await whileForming(`stream ${wanted.name}`, async () => { await applyStream(jsm, wanted, log) }, log, waitMs)
}

async function applyStream (jsm: JetStreamManager, wanted: StreamConfig, log: Logger): Promise<void> {
  let actual: StreamConfig
  try {
    const info = await jsm.streams.info(wanted.name)
    actual = isDeepStrictEqual(pick(info.config, wanted), wanted)
      ? info.config
      : await jsm.streams.update(wanted.name, wanted).then(i => i.config, (err: Error) => {
        // (more replicas than the peers up yet: a cluster still forming, waited for)
        if (unavailableKind(err) !== undefined) throw err
        log.error({ stream: wanted.name, err: err.message }, 'stream update refused; running with the stream as it is')
        return info.config
      })
    if (actual.num_replicas !== info.config.num_replicas) {
      log.info({ stream: wanted.name, from: info.config.num_replicas, to: actual.num_replicas }, 'stream replicas changed: waiting for its new peers')
      await untilCurrent(jsm, wanted.name, log)
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err
    actual = (await jsm.streams.add(wanted)).config
    log.info({ stream: wanted.name }, 'stream created')
  }
  for (const key of Object.keys(wanted) as (keyof StreamConfig)[]) {
    if (!isDeepStrictEqual(actual[key], wanted[key])) {
      log.error({ stream: wanted.name, setting: key, wanted: wanted[key], actual: actual[key] },
        'the server did not keep a stream setting (unknown to this server version, or not updatable)')
    }
  }
}

/**
 * Waits (bounded) until a stream whose replicas just changed has a leader and every replica is
 * current: until then its leader elections answer publishes with no responders.
 */
async function untilCurrent (jsm: JetStreamManager, stream: string, log: Logger, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const info = await jsm.streams.info(stream).catch(() => undefined)
    const replicas = info?.cluster?.replicas ?? []
    if (info?.cluster?.leader !== undefined && replicas.length === info.config.num_replicas - 1 && replicas.every(r => r.current)) return
    await sleep(100)
  }
  log.warn({ stream, timeoutMs }, 'stream replicas not current yet; going on')
}

function pick (actual: StreamConfig, like: StreamConfig): Partial<StreamConfig> {
  return Object.fromEntries(Object.keys(like).map(k => [k, actual[k as keyof StreamConfig]]))
}
