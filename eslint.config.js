import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['node_modules', 'data', '.tap', 'coverage'] }),
  {
    // A TypeBox schema and its Static<> type share one name on purpose (see STYLE.md).
    rules: { '@typescript-eslint/no-redeclare': 'off' }
  }
]
