// The read-model suite on PostgreSQL: test/api/relay-sync.test.ts with its services' read models in PostgreSQL (README: "Read models: SQLite or PostgreSQL")
process.env.JETWAY_TEST_READ_MODELS = 'postgres'
await import('../../api/relay-sync.test.js')
