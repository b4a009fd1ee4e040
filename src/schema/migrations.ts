import type { Kysely, Migration } from 'kysely'

// Frozen in time: a migration, once released, is never edited; add the next one instead.
// They run on Kysely<any> because the Database type describes only the newest shape.
export const migrations: Record<string, Migration> = {
  '0001_checkpoints_and_collect_events': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('projection_checkpoints')
        .addColumn('name', 'text', c => c.primaryKey())
        .addColumn('last_seq', 'integer', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .addColumn('updated_at', 'text', c => c.notNull())
        .execute()
      await db.schema.createTable('collect_events')
        .addColumn('seq', 'integer', c => c.primaryKey())
        .addColumn('event_id', 'text', c => c.notNull().unique())
        .addColumn('user_id', 'text', c => c.notNull())
        .addColumn('event', 'text', c => c.notNull())
        .addColumn('event_datetime', 'text', c => c.notNull())
        .addColumn('parameters', 'text')
        .addColumn('received_at', 'text', c => c.notNull())
        .execute()
      await db.schema.createIndex('collect_events_by_user_time')
        .on('collect_events').columns(['user_id', 'event_datetime', 'seq']).execute()
      // One index serves every search: a filter on `event` is checked on the user's rows in
      // time order. A second (user_id, event, ...) index cost 40% of the insert rate (README).
    }
  },
  '0002_jobs': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('jobs')
        .addColumn('event_id', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull())
        .addColumn('event_type', 'text', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('event_desc', 'text', c => c.notNull())
        .addColumn('requested_at', 'text', c => c.notNull())
        .addColumn('deadline', 'text', c => c.notNull())
        .addColumn('completed_at', 'text')
        .addColumn('status_seq', 'integer')
        .execute()
      await db.schema.createIndex('jobs_by_user').on('jobs').columns(['user_id', 'requested_at']).execute()
    }
  }
}
