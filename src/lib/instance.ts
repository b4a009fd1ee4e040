import { createHash } from 'node:crypto'
import { hostname } from 'node:os'

/**
 * This instance's name in leases: its host and data dir, so a restarted instance (same host,
 * same SQLite file) takes its own leases back at once instead of waiting for them to run out.
 */
export function instanceId (dataDir: string): string {
  return `${hostname()}:${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`
}
