import { readdir, readFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Config } from '../config.js'

export const STREAMS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'streams')

/** streams/<NAME>.json, with replicas, storage and duplicate window taken from config. */
export async function loadStreamConfigs (config: Config, dir = STREAMS_DIR): Promise<StreamConfig[]> {
  const files = (await readdir(dir)).filter(f => /^[A-Z0-9_]+\.json$/.test(f)).sort()
  return await Promise.all(files.map(async f => {
    const cfg = JSON.parse(await readFile(join(dir, f), 'utf8')) as StreamConfig
    return {
      ...cfg,
      num_replicas: config.stream.replicas,
      storage: config.stream.storage,
      duplicate_window: config.stream.duplicateWindowMs * 1_000_000
    } as StreamConfig
  }))
}

/**
 * Creates each stream, or updates it where JetStream allows. A server silently drops settings
 * it does not know (2.9 does for newer ones), so what it returns is compared with the file
 * and every difference is logged as an error.
 */
export async function applyStreams (jsm: JetStreamManager, configs: StreamConfig[], log: Logger): Promise<void> {
  for (const wanted of configs) {
    let actual: StreamConfig
    try {
      const info = await jsm.streams.info(wanted.name)
      actual = isDeepStrictEqual(pick(info.config, wanted), wanted)
        ? info.config
        : await jsm.streams.update(wanted.name, wanted).then(i => i.config, (err: Error) => {
          log.error({ stream: wanted.name, err: err.message }, 'stream update refused; running with the stream as it is')
          return info.config
        })
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
}

function pick (actual: StreamConfig, like: StreamConfig): Partial<StreamConfig> {
  return Object.fromEntries(Object.keys(like).map(k => [k, actual[k as keyof StreamConfig]]))
}
