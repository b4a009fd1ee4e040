import ms from 'ms'

// Durations as operators write them: "500ms", "15s", "2m", "24h", "1d", or plain milliseconds,
// read by `ms`. It reads more than Jetway ever took (negative, ".5s", "2 hours", "1w", "1y",
// upper case), so only these forms reach it, with the spaces around number and unit dropped.
const FORM = /^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)?\s*$/
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Whole milliseconds, or undefined when the text is not such a duration (ms reads at most 100 characters). */
export function parseDuration (text: string): number | undefined {
  if (!FORM.test(text)) return undefined
  const value = ms(text.replace(/\s+/g, '') as ms.StringValue) as number | undefined
  return value === undefined ? undefined : Math.round(value)
}

/** The largest unit that gives a whole number: 300ms, 90s, 2m, 24h (ms's own format rounds: 90s would be 2m). */
export function formatDuration (value: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit]!
    if (value >= size && value % size === 0) return `${value / size}${unit}`
  }
  return `${value}ms`
}
