import type { Runtime } from '../runtime.js'
import { ProjectionRunner } from './runner.js'
import { projectionsFor } from './index.js'

export interface RebuildOptions {
  /** give up when the checkpoint has not moved for this long (NATS gone, the store stuck) */
  stallMs?: number
  /** how long a serving runner waits on this rebuild after its last sign of life */
  leaseMs?: number
}

/**
 * Drops a projection and replays its stream from the start, reporting progress, until it has
 * caught up with the stream: the target is re-read as it runs, so a stream that keeps growing
 * ends when its writers pause or stop. Meanwhile the checkpoint says `rebuilding`, so reads and
 * /readyz do not take the emptied tables for current ones, and the service's own runner waits
 * (it takes over if this rebuild dies and stops renewing its lease). Never waits forever: it
 * fails when the checkpoint stops moving for `stallMs`.
 */
export async function rebuildProjection (runtime: Runtime, name: string, onProgress: (applied: number, total: number) => void, opts: RebuildOptions = {}): Promise<{ applied: number, total: number }> {
  const projections = projectionsFor(runtime.config, runtime.keys)
  const projection = projections.find(p => p.name === name)
  if (projection === undefined) {
    throw new Error(`no projection named ${name}; known: ${projections.map(p => p.name).join(', ')}`)
  }
  const stallMs = opts.stallMs ?? 60_000
  let total = await runtime.readModels.streamEnd(projection.stream)
  const runner = new ProjectionRunner({
    projection,
    js: runtime.js,
    db: runtime.db,
    log: runtime.log,
    clock: runtime.clock,
    mode: 'rebuild',
    ...(opts.leaseMs === undefined ? {} : { rebuildLeaseMs: opts.leaseMs }),
    onBatch: (applied, pending) => {
      total = Math.max(total, applied + pending)
      onProgress(applied, total)
    }
  })
  await runner.reset({ rebuilding: true })
  onProgress(0, total)
  await runner.start()
  let applied = 0
  try {
    // Done when the checkpoint no longer says rebuilding: this runner reached the stream's end
    // (or a serving runner that took over did).
    let movedAt = Date.now()
    while (true) {
      const state = await runtime.readModels.state(name)
      if (state.appliedSeq !== applied) {
        applied = state.appliedSeq
        movedAt = Date.now()
      }
      if (!state.rebuilding) break
      if (Date.now() - movedAt > stallMs) {
        throw new Error(`rebuild of ${name} made no progress for ${stallMs} ms (at ${projection.stream}:${applied} of ${total}); is NATS reachable?`)
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([runner.changed(), new Promise(resolve => { timer = setTimeout(resolve, 100) })])
      clearTimeout(timer)
    }
  } finally {
    await runner.stop()
  }
  return { applied, total: Math.max(total, applied) }
}
