// The read-model suite on PostgreSQL: test/workers/reminders.test.ts with its services' read models in PostgreSQL (docs/read-models.md: "SQLite or PostgreSQL")
process.env.JETWAY_TEST_READ_MODELS = 'postgres'
await import('../../workers/reminders.test.js')
