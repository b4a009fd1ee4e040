import type { Logger } from 'pino'

export interface TickLoopOptions {
  /** how long it waits between ticks */
  everyMs: number
  /** one round of work; true: more is waiting, tick again at once */
  tick: () => Promise<boolean>
  log: Logger
  /** the log line of a failed tick, e.g. 'timer tick failed; trying again' */
  failed: string
}

/**
 * The loop of a background part that looks every so often (the timer ticker, the retention
 * follower, the erasure purger): a failed tick is logged and tried again at the next one, and
 * stop() cuts the wait short and resolves once the tick in progress has ended.
 */
export class TickLoop {
  private readonly opts: TickLoopOptions
  private stopped = true
  private loop?: Promise<void>
  private wake?: () => void

  constructor (opts: TickLoopOptions) {
    this.opts = opts
  }

  start (): void {
    this.stopped = false
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.loop
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      let again = false
      try {
        again = await this.opts.tick()
      } catch (err) {
        this.opts.log.error({ err }, this.opts.failed)
      }
      if (again || this.stopped) continue
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, this.opts.everyMs)
        this.wake = () => { clearTimeout(timer); resolve() }
      })
    }
  }
}
