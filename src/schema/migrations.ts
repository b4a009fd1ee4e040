import { sql, type Kysely } from 'kysely'
import type { Migration } from 'kysely/migration'
import { backendOf } from '../projections/dialect.js'

// Frozen in time: a migration, once released, is never edited; add the next one instead.
// They run on Kysely<any> because the Database type describes only the newest shape.
// The same list runs on SQLite and PostgreSQL: on PostgreSQL the migrator's connection maps the
// column types (src/projections/dialect.ts, PostgresColumns); where a step cannot be the same
// SQL on both, it says so and branches on backendOf(db).
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
  },
  '0003_meetings_and_notifications': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('meetings')
        .addColumn('meeting_id', 'text', c => c.primaryKey())
        .addColumn('title', 'text', c => c.notNull())
        .addColumn('starts_at', 'text', c => c.notNull())
        .addColumn('ends_at', 'text', c => c.notNull())
        .addColumn('location', 'text', c => c.notNull())
        .addColumn('description', 'text', c => c.notNull())
        .addColumn('organizer_id', 'text', c => c.notNull())
        .addColumn('organizer_email', 'text', c => c.notNull())
        .addColumn('organizer_name', 'text')
        .addColumn('cancelled', 'integer', c => c.notNull())
        .addColumn('sequence', 'integer', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .execute()
      await db.schema.createIndex('meetings_by_organizer').on('meetings').columns(['organizer_id', 'starts_at']).execute()
      await db.schema.createTable('meeting_participants')
        .addColumn('meeting_id', 'text', c => c.notNull())
        .addColumn('email', 'text', c => c.notNull())
        .addColumn('name', 'text')
        .addPrimaryKeyConstraint('meeting_participants_pk', ['meeting_id', 'email'])
        .execute()
      await db.schema.createIndex('meeting_participants_by_email').on('meeting_participants').columns(['email', 'meeting_id']).execute()
      await db.schema.createTable('notifications')
        .addColumn('notification_id', 'text', c => c.primaryKey())
        .addColumn('meeting_id', 'text', c => c.notNull())
        .addColumn('recipient', 'text', c => c.notNull())
        .addColumn('kind', 'text', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('attempts', 'integer', c => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('sent_at', 'text')
        .addColumn('requested_at', 'text', c => c.notNull())
        .execute()
      await db.schema.createIndex('notifications_by_meeting').on('notifications').columns(['meeting_id', 'requested_at']).execute()
      await db.schema.createTable('outbox')
        .addColumn('notification_id', 'text', c => c.primaryKey())
        .addColumn('recipient', 'text', c => c.notNull())
        .addColumn('from_address', 'text', c => c.notNull())
        .addColumn('subject', 'text', c => c.notNull())
        .addColumn('text', 'text', c => c.notNull())
        .addColumn('ics', 'text', c => c.notNull())
        .addColumn('at', 'text', c => c.notNull())
        .execute()
    }
  },
  '0004_collect_scoped_to_user': {
    // event_id is unique per user, not across users. SQLite cannot drop a column's UNIQUE, so
    // the table is rebuilt as its docs describe (create new, copy, drop old, rename) and its
    // search index made again; rows are kept. Runs in the migrator's transaction.
    async up (db: Kysely<any>) {
      await db.schema.createTable('collect_events_0004')
        .addColumn('seq', 'integer', c => c.primaryKey())
        .addColumn('event_id', 'text', c => c.notNull())
        .addColumn('user_id', 'text', c => c.notNull())
        .addColumn('event', 'text', c => c.notNull())
        .addColumn('event_datetime', 'text', c => c.notNull())
        .addColumn('parameters', 'text')
        .addColumn('received_at', 'text', c => c.notNull())
        .addUniqueConstraint('collect_events_user_event_id', ['user_id', 'event_id'])
        .execute()
      await sql`INSERT INTO collect_events_0004 (seq, event_id, user_id, event, event_datetime, parameters, received_at)
        SELECT seq, event_id, user_id, event, event_datetime, parameters, received_at FROM collect_events`.execute(db)
      await db.schema.dropTable('collect_events').execute()
      await db.schema.alterTable('collect_events_0004').renameTo('collect_events').execute()
      await db.schema.createIndex('collect_events_by_user_time')
        .on('collect_events').columns(['user_id', 'event_datetime', 'seq']).execute()
    }
  },
  '0005_timers': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('timers')
        .addColumn('timer_id', 'text', c => c.primaryKey())
        .addColumn('projection', 'text', c => c.notNull())
        .addColumn('stream', 'text', c => c.notNull())
        .addColumn('kind', 'text', c => c.notNull())
        .addColumn('due_at', 'integer', c => c.notNull())
        .addColumn('payload', 'text', c => c.notNull())
        .addColumn('group_key', 'text', c => c.notNull())
        .addColumn('set_seq', 'integer', c => c.notNull())
        .execute()
      await db.schema.createIndex('timers_by_due').on('timers').columns(['due_at']).execute()
      await db.schema.createIndex('timers_by_group').on('timers').columns(['group_key']).execute()
    }
  },
  '0006_checkpoint_rebuilding': {
    async up (db: Kysely<any>) {
      // 1 while `npm run rebuild` refills the projection: its rows are not current, whatever
      // last_seq says. updated_at is then the rebuild's heartbeat.
      await db.schema.alterTable('projection_checkpoints')
        .addColumn('rebuilding', 'integer', c => c.notNull().defaultTo(0))
        .execute()
    }
  },
  '0007_tasks': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('tasks')
        .addColumn('task_id', 'text', c => c.primaryKey())
        .addColumn('owner', 'text', c => c.notNull())
        .addColumn('type', 'text', c => c.notNull())
        .addColumn('title', 'text', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('input', 'text', c => c.notNull())
        .addColumn('output', 'text')
        .addColumn('error', 'text')
        .addColumn('cause', 'text')
        .addColumn('decided_by', 'text')
        .addColumn('approvers', 'text', c => c.notNull())
        .addColumn('created_at', 'text', c => c.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('deadline', 'text', c => c.notNull())
        .addColumn('timeout_seconds', 'integer', c => c.notNull())
        .addColumn('heartbeat_seconds', 'integer')
        .addColumn('heartbeat_deadline', 'text')
        .addColumn('last_heartbeat_at', 'text')
        .addColumn('callback_url', 'text')
        .addColumn('schedule_id', 'text')
        .addColumn('schedule_tick', 'text')
        .addColumn('version', 'integer', c => c.notNull())
        .addColumn('created_seq', 'integer', c => c.notNull())
        .execute()
      await db.schema.createIndex('tasks_by_owner').on('tasks').columns(['owner', 'created_seq']).execute()
      await db.schema.createIndex('tasks_by_schedule').on('tasks').columns(['schedule_id', 'schedule_tick']).execute()
      await db.schema.createTable('task_callbacks')
        .addColumn('task_id', 'text', c => c.notNull())
        .addColumn('attempt', 'integer', c => c.notNull())
        .addColumn('outcome', 'text', c => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('final', 'integer', c => c.notNull())
        .addColumn('at', 'text', c => c.notNull())
        .addPrimaryKeyConstraint('task_callbacks_pk', ['task_id', 'attempt'])
        .execute()
      await db.schema.createTable('schedules')
        .addColumn('schedule_id', 'text', c => c.primaryKey())
        .addColumn('owner', 'text', c => c.notNull())
        .addColumn('name', 'text', c => c.notNull())
        .addColumn('cron', 'text', c => c.notNull())
        .addColumn('timezone', 'text', c => c.notNull())
        .addColumn('task', 'text', c => c.notNull())
        .addColumn('created_at', 'text', c => c.notNull())
        .addColumn('next_tick', 'text')
        .addColumn('last_tick', 'text')
        .addColumn('last_task_id', 'text')
        .addColumn('last_skipped', 'integer')
        .addColumn('deleted', 'integer', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .addColumn('created_seq', 'integer', c => c.notNull())
        .execute()
      await db.schema.createIndex('schedules_by_owner').on('schedules').columns(['owner', 'created_seq']).execute()
      // delivery records about anything (notification.requested v2): a task's approval emails
      await db.schema.alterTable('notifications').addColumn('about_type', 'text', c => c.notNull().defaultTo('meeting')).execute()
      await db.schema.alterTable('notifications').addColumn('about_id', 'text', c => c.notNull().defaultTo('')).execute()
      await db.updateTable('notifications').set({ about_id: sql`meeting_id` }).execute()
      await db.schema.createIndex('notifications_by_about').on('notifications').columns(['about_type', 'about_id', 'requested_at']).execute()
    }
  },
  '0008_relay': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('relay_requests')
        .addColumn('request_id', 'text', c => c.primaryKey())
        .addColumn('kind', 'text', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('state', 'text', c => c.notNull())
        .addColumn('requested_at', 'text', c => c.notNull())
        .addColumn('updated_at', 'text', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .execute()
      await db.schema.createTable('relay_callbacks')
        .addColumn('seq', 'integer', c => c.primaryKey())
        .addColumn('request_id', 'text')
        .addColumn('received_at', 'text', c => c.notNull())
        .addColumn('data', 'text', c => c.notNull())
        .execute()
      await db.schema.createIndex('relay_callbacks_by_request').on('relay_callbacks').columns(['request_id', 'seq']).execute()
      await db.schema.createTable('relay_triggers')
        .addColumn('name', 'text', c => c.primaryKey())
        .addColumn('trigger', 'text', c => c.notNull())
        .addColumn('created_at', 'text', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .execute()
    }
  },
  '0009_meetings_by_organizer_email': {
    async up (db: Kysely<any>) {
      // the meeting list's `email` filter matches the organizer's email too
      await db.schema.createIndex('meetings_by_organizer_email').on('meetings').columns(['organizer_email', 'starts_at']).execute()
    }
  },
  '0010_collect_events_by_user': {
    // A search reads one user's rows in time order: stored in that order (WITHOUT ROWID, the
    // key is the search order), a page is one range of the table instead of 100 lookups from
    // the index into the table: 0.34 -> 0.07 ms per 100-row page over 1M rows, for 30% fewer
    // inserts per second (bench, README). Rebuilt as 0004 was; rows are kept.
    // PostgreSQL has no clustered tables: that key becomes the primary key instead of (seq), and
    // a page is one range of its index (it replaces collect_events_by_user_time).
    async up (db: Kysely<any>) {
      if (backendOf(db) === 'postgres') {
        await sql`ALTER TABLE collect_events DROP CONSTRAINT collect_events_0004_pkey`.execute(db)
        await sql`ALTER TABLE collect_events ADD CONSTRAINT collect_events_pkey PRIMARY KEY (user_id, event_datetime, seq)`.execute(db)
        await sql`DROP INDEX collect_events_by_user_time`.execute(db)
        return
      }
      await sql`CREATE TABLE collect_events_0010 (
        seq integer NOT NULL,
        event_id text NOT NULL,
        user_id text NOT NULL,
        event text NOT NULL,
        event_datetime text NOT NULL,
        parameters text,
        received_at text NOT NULL,
        PRIMARY KEY (user_id, event_datetime, seq),
        CONSTRAINT collect_events_user_event_id UNIQUE (user_id, event_id)
      ) WITHOUT ROWID`.execute(db)
      await sql`INSERT INTO collect_events_0010 (seq, event_id, user_id, event, event_datetime, parameters, received_at)
        SELECT seq, event_id, user_id, event, event_datetime, parameters, received_at FROM collect_events`.execute(db)
      await db.schema.dropTable('collect_events').execute()
      await db.schema.alterTable('collect_events_0010').renameTo('collect_events').execute()
    }
  },
  '0011_collect_sdk_fields_and_minutes': {
    // What an analytics SDK message carries besides the seed's fields (POST /v1/*), kept and
    // returned by the searches: null for the seed's own events, whose answers stay as they were.
    // And the collected events per minute and event name, for the console's chart, a few rows a
    // minute kept for two hours (the projection prunes them): no scan of collect_events.
    async up (db: Kysely<any>) {
      await db.schema.alterTable('collect_events').addColumn('anonymous_id', 'text').execute()
      await db.schema.alterTable('collect_events').addColumn('context', 'text').execute()
      await db.schema.alterTable('collect_events').addColumn('integrations', 'text').execute()
      await db.schema.createTable('collect_minutes')
        .addColumn('minute', 'text', c => c.notNull())
        .addColumn('event', 'text', c => c.notNull())
        .addColumn('count', 'integer', c => c.notNull())
        .addPrimaryKeyConstraint('collect_minutes_pk', ['minute', 'event'])
        .execute()
    }
  },
  '0012_data_lifecycle': {
    // Read models follow their streams (README, Data lifecycle): rows built from events a
    // stream's retention aged out are dropped by the sequence of the event that made them, so
    // those sequences are kept and indexed. And the erasures of users, their removed records
    // (by id, no personal data) and the suppressions.
    async up (db: Kysely<any>) {
      await db.schema.createIndex('collect_events_by_seq').on('collect_events').columns(['seq']).execute()
      await db.schema.alterTable('jobs').addColumn('requested_seq', 'integer').execute()
      await db.schema.createIndex('jobs_by_requested_seq').on('jobs').columns(['requested_seq']).execute()
      await db.schema.alterTable('notifications').addColumn('requested_seq', 'integer').execute()
      await db.schema.createIndex('notifications_by_requested_seq').on('notifications').columns(['requested_seq']).execute()
      await db.schema.createTable('erasures')
        .addColumn('erasure_id', 'text', c => c.primaryKey())
        .addColumn('user_key', 'text', c => c.notNull())
        .addColumn('suppress', 'integer', c => c.notNull())
        .addColumn('status', 'text', c => c.notNull())
        .addColumn('requested_at', 'text', c => c.notNull())
        .addColumn('completed_at', 'text')
        .addColumn('cutoffs', 'text')
        .addColumn('removed_streams', 'text')
        .addColumn('removed_read_models', 'text', c => c.notNull())
        .addColumn('version', 'integer', c => c.notNull())
        .execute()
      await db.schema.createIndex('erasures_by_user_key').on('erasures').columns(['user_key']).execute()
      await db.schema.createTable('erasure_items')
        .addColumn('erasure_id', 'text', c => c.notNull())
        .addColumn('kind', 'text', c => c.notNull())
        .addColumn('item_id', 'text', c => c.notNull())
        .addPrimaryKeyConstraint('erasure_items_pk', ['erasure_id', 'kind', 'item_id'])
        .execute()
      await db.schema.createTable('erasure_purges')
        .addColumn('erasure_id', 'text', c => c.notNull())
        .addColumn('stream', 'text', c => c.notNull())
        .addColumn('filter', 'text', c => c.notNull())
        .addColumn('up_to_seq', 'integer')
        .addPrimaryKeyConstraint('erasure_purges_pk', ['erasure_id', 'stream', 'filter'])
        .execute()
      await db.schema.createTable('suppressions')
        .addColumn('user_key', 'text', c => c.primaryKey())
        .addColumn('erasure_id', 'text', c => c.notNull())
        .addColumn('since', 'text', c => c.notNull())
        .execute()
    }
  },
  '0013_postgres_row_order_and_checkpoint_notify': {
    // PostgreSQL only (SQLite has all of it already):
    // - the lists that show rows newest first by insertion (jobs, meetings, relay requests)
    //   order by SQLite's implicit rowid: on PostgreSQL a `rowid` identity column, indexed;
    // - every change of a checkpoint is announced (NOTIFY jetway_checkpoints, the projection's
    //   name) when its transaction commits: the instances that do not hold the projection wake
    //   their waiting reads (read-your-writes) without polling.
    async up (db: Kysely<any>) {
      if (backendOf(db) !== 'postgres') return
      for (const table of ['jobs', 'meetings', 'relay_requests']) {
        await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN rowid bigint GENERATED ALWAYS AS IDENTITY`.execute(db)
        await sql`CREATE UNIQUE INDEX ${sql.id(`${table}_rowid`)} ON ${sql.table(table)} (rowid)`.execute(db)
      }
      await sql`CREATE FUNCTION jetway_checkpoint_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('jetway_checkpoints', NEW.name);
          RETURN NULL;
        END $$`.execute(db)
      await sql`CREATE TRIGGER projection_checkpoints_notify AFTER INSERT OR UPDATE ON projection_checkpoints
        FOR EACH ROW EXECUTE FUNCTION jetway_checkpoint_changed()`.execute(db)
    }
  }
}
