// Time in the seed's format, %Y-%m-%dT%H:%M:%S.%fZ (microseconds, UTC), and the injected clock.

export interface Clock {
  now: () => Date
}

export const systemClock: Clock = { now: () => new Date() }

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/

/** ISO 8601 (any offset, up to nanoseconds; no offset means UTC) to the seed's format. */
export function toMicroTime (text: string): string | undefined {
  const match = ISO.exec(text)
  if (match === null) return undefined
  const [, date, time, fraction = '', zone = 'Z'] = match
  const offset = zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone.toUpperCase()
  // Date.parse rolls 02-30 over to March; a day that does not read back as typed is invalid.
  const day = Date.parse(`${date}T00:00:00Z`)
  if (Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== date) return undefined
  const ms = Date.parse(`${date}T${time}${offset}`)
  if (Number.isNaN(ms)) return undefined
  const utc = new Date(ms).toISOString()
  // an offset can push a time past year 9999 or before year 0 ('+010000-…'), which the
  // seed's format cannot print
  if (!/^\d{4}-/.test(utc)) return undefined
  return `${utc.slice(0, 19)}.${fraction.padEnd(6, '0').slice(0, 6)}Z`
}

export function microTimeOf (date: Date): string {
  // toISOString always ends in .sssZ
  return `${date.toISOString().slice(0, -1)}000Z`
}
