// ISO 8601 durations as Knative's delivery spec writes them: PT0.2S, PT1S, PT1M30S, P1D,
// P1DT2H. Years and months have no fixed length and are refused; weeks (P2W) are 7 days.

const ISO = /^P(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/i
const MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000]

/** Milliseconds of an ISO 8601 duration, or undefined when it is not one this reads. */
export function parseIsoDuration (text: string): number | undefined {
  const match = ISO.exec(text.trim())
  if (match === null || /^P$|T$/i.test(text.trim())) return undefined
  let ms = 0
  for (let i = 0; i < MS.length; i++) {
    const part = match[i + 1]
    if (part !== undefined) ms += Number(part.replace(',', '.')) * MS[i]!
  }
  return Math.round(ms)
}

/** An ISO 8601 duration for a number of milliseconds, e.g. 1500 -> PT1.5S. */
export function toIsoDuration (ms: number): string {
  return `PT${Number((ms / 1000).toFixed(3))}S`
}
