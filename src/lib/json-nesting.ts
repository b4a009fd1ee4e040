// How deep JSON may nest, for everything Jetway reads from outside (request bodies, the JSON
// text of a Step Functions output, a target's JSON answer). JSON.parse takes any depth, but
// JSON.stringify, ajv and every walk over a value recurse, and a body of a few thousand `[`
// overflows their stack. No schema of Jetway's nests past a dozen levels; free-form data
// (a task's input and output, a relay body, a CloudEvent's data) gets the rest.

/** Levels of arrays and objects JSON may nest (the outermost counts one). */
export const MAX_JSON_DEPTH = 64

/** Whether a parsed JSON value nests deeper than `levels`. Recurses at most `levels` deep. */
export function nestsDeeperThan (value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (levels === 0) return true
  if (Array.isArray(value)) {
    for (const item of value) if (nestsDeeperThan(item, levels - 1)) return true
    return false
  }
  for (const key in value) if (nestsDeeperThan((value as Record<string, unknown>)[key], levels - 1)) return true
  return false
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const OPEN_OBJECT = 0x7b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d

/**
 * The same, read from JSON text (a string or UTF-8 bytes) before it is parsed: brackets outside
 * strings. (In UTF-8 these ASCII bytes never occur inside a multi-byte character.)
 */
export function textNestsDeeperThan (text: string | Uint8Array, levels: number): boolean {
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i]!
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = at(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > levels) return true
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--
    }
  }
  return false
}
