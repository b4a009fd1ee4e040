import type { Runtime } from '../runtime.js'
import { ProjectionRunner } from './runner.js'
import { projectionsFor } from './index.js'

/**
 * Drops a projection and replays its stream from the start, reporting progress until it
 * has applied everything the stream held when the rebuild began. A running service notices
 * the moved checkpoint and continues from wherever the rebuild leaves it.
 */
export async function rebuildProjection (runtime: Runtime, name: string, onProgress: (applied: number, total: number) => void): Promise<{ applied: number, total: number }> {
  const projections = projectionsFor(runtime.config)
  const projection = projections.find(p => p.name === name)
  if (projection === undefined) {
    throw new Error(`no projection named ${name}; known: ${projections.map(p => p.name).join(', ')}`)
  }
  const info = await runtime.jsm.streams.info(projection.stream)
  const total = info.state.last_seq
  const runner = new ProjectionRunner({
    projection,
    js: runtime.js,
    db: runtime.db,
    log: runtime.log,
    clock: runtime.clock,
    onBatch: applied => onProgress(Math.min(applied, total), total)
  })
  await runner.reset()
  onProgress(0, total)
  await runner.start()
  await runner.waitFor(total, 24 * 3600_000)
  await runner.stop()
  return { applied: runner.appliedSeq, total }
}
