import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['node_modules', 'data', '.tap', 'coverage', 'test-artifacts'] }),
  {
    // A TypeBox schema and its Static<> type share one name on purpose (see STYLE.md).
    rules: { '@typescript-eslint/no-redeclare': 'off' }
  },
  {
    // the console runs in a browser
    files: ['web/**/*.js'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', confirm: 'readonly', addEventListener: 'readonly', removeEventListener: 'readonly' }
    }
  }
]
