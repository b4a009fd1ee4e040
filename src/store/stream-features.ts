import type { StreamConfig } from '@nats-io/jetstream'
import { atLeast } from './durability.js'

/**
 * The stream settings a newer nats-server has and 2.9 does not, added where the server has them
 * (a 2.9 server would drop them and applyStreams would log each as not kept): S2 compression of
 * file streams (2.10+), which the headers of small events (mostly alike) compress well under.
 */
export function withServerFeatures (configs: StreamConfig[], serverVersion: string): StreamConfig[] {
  if (!atLeast(serverVersion, 2, 10)) return configs
  return configs.map(c => String(c.storage) === 'file' ? { ...c, compression: 's2' } as StreamConfig : c)
}
