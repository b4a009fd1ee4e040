import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { Clock } from '../lib/time.js'
import { Subjects } from './subjects.js'

// A named lease in stream LEASES (one message per subject): who holds it and until when. It is
// taken and renewed by appending with the expected last subject sequence, so of two instances
// racing exactly one gets it; a holder that stops renewing loses it after its TTL. Used where
// one instance at a time must act for the fleet (a trigger's dispatcher, whose lanes keep
// per-subject order only if one process pulls them).

export interface LeaseRecord {
  holder: string
  /** epoch ms; 0 = released */
  expiresAt: number
}

export interface LeaseOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  clock: Clock
  name: string
  /** this instance */
  holder: string
  ttlMs: number
}

const decoder = new TextDecoder()

export class Lease {
  private readonly opts: LeaseOptions
  /** LEASES sequence of our last record, while we hold it */
  private seq: number | undefined
  private expiresAt = 0

  constructor (opts: LeaseOptions) {
    this.opts = opts
  }

  /** True while we hold it and it has not run out by our clock. */
  get held (): boolean {
    return this.seq !== undefined && this.opts.clock.now().getTime() < this.expiresAt
  }

  /** Takes the lease if free, expired or ours, or renews it; resolves whether we hold it now. */
  async acquire (): Promise<boolean> {
    const { jsm, name, holder, clock } = this.opts
    const subject = Subjects.lease(name)
    let lastSeq: number
    if (this.seq !== undefined) {
      lastSeq = this.seq
    } else {
      const last = await jsm.streams.getMessage('LEASES', { last_by_subj: subject })
      lastSeq = last?.seq ?? 0
      if (last !== null) {
        const record = JSON.parse(decoder.decode(last.data)) as LeaseRecord
        if (record.holder !== holder && record.expiresAt > clock.now().getTime()) return false
      }
    }
    return await this.write(lastSeq, clock.now().getTime() + this.opts.ttlMs)
  }

  /** Gives the lease up at once (another instance may take it without waiting for the TTL). */
  async release (): Promise<void> {
    if (this.seq === undefined) return
    await this.write(this.seq, 0).catch(() => false)
    this.seq = undefined
  }

  private async write (lastSeq: number, expiresAt: number): Promise<boolean> {
    const { js, name, holder } = this.opts
    const record: LeaseRecord = { holder, expiresAt }
    try {
      const ack = await js.publish(Subjects.lease(name), JSON.stringify(record), { expect: { lastSubjectSequence: lastSeq } })
      this.seq = expiresAt === 0 ? undefined : ack.seq
      this.expiresAt = expiresAt
      return expiresAt !== 0
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
        // someone else wrote it since: not ours (any more)
        this.seq = undefined
        this.expiresAt = 0
        return false
      }
      throw err
    }
  }
}
