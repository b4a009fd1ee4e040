import { Duration } from 'luxon'

// ISO 8601 durations as Knative's delivery spec writes them (PT0.2S, PT1S, PT1M30S, P1D,
// P1DT2H), read by luxon. Guarded to the forms Jetway always took: no years or months (they
// have no fixed length; luxon would count a month as 30 days), no sign, weeks (P2W) as 7 days,
// and lower case and a decimal comma in any part, which luxon does not read and so gets
// normalised. Luxon truncates a fraction of a millisecond.
const ISO = /^P(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/i

/** Milliseconds of an ISO 8601 duration, or undefined when it is not one this reads. */
export function parseIsoDuration (text: string): number | undefined {
  const trimmed = text.trim()
  if (!ISO.test(trimmed) || /^P$|T$/i.test(trimmed)) return undefined
  // upper case, decimal points, and no leading zeros (luxon reads at most 20 digits a part)
  const normal = trimmed.toUpperCase().replace(/,/g, '.').replace(/(?<![\d.])0+(?=\d)/g, '')
  const duration = Duration.fromISO(normal)
  return duration.isValid ? Math.round(duration.as('milliseconds')) : undefined
}

/** An ISO 8601 duration for a number of milliseconds, e.g. 1500 -> PT1.5S. */
export function toIsoDuration (ms: number): string {
  return Duration.fromMillis(ms).toISO()!
}
