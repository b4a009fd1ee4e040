import t from 'tap'
import { nestsDeeperThan, textNestsDeeperThan } from '../../src/lib/json-nesting.js'

t.test('a value and its JSON text measure the same depth', async t => {
  const cases: [string, number][] = [
    ['1', 0], ['"x"', 0], ['null', 0], ['[]', 1], ['{}', 1], ['[[]]', 2], ['{"a":{"b":[1,{"c":2}]}}', 4],
    ['[1,[2],[[3]],4]', 3],
    // brackets inside strings are text, escaped quotes do not end a string
    ['["[[[[", "{{{{"]', 1], ['{"a\\"[[[":"]]]\\\\"}', 1], ['["\\\\", [[]]]', 3]
  ]
  for (const [text, depth] of cases) {
    const value: unknown = JSON.parse(text)
    t.equal(nestsDeeperThan(value, depth), false, `${text} is ${depth} deep, no deeper`)
    t.equal(textNestsDeeperThan(text, depth), false, `${text} as text`)
    t.equal(textNestsDeeperThan(Buffer.from(text), depth), false, `${text} as bytes`)
    if (depth > 0) {
      t.equal(nestsDeeperThan(value, depth - 1), true, `${text} is deeper than ${depth - 1}`)
      t.equal(textNestsDeeperThan(text, depth - 1), true, `${text} as text`)
    }
  }
  // a 100,000-deep value is measured without overflowing the stack
  t.equal(nestsDeeperThan(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)), 64), true)
  t.equal(textNestsDeeperThan('{"é":' + '['.repeat(65) + ']'.repeat(65) + '}', 65), true, 'multi-byte text before the brackets')
})
