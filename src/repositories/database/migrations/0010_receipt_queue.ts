import { sql, type Kysely } from 'kysely';

/**
 * Unpublished receipts in a queue of their own. The relay used to mark a receipt published by
 * setting message_events.published_at; that column is in the predicate of the relay's partial
 * index, so no mark was a heap-only update: each copied the whole row (about 1 KB of WAL) and
 * added three index entries, 16 % of the benchmark's WAL (pg_stat_statements). Now the relay
 * deletes the receipt's id from unpublished_receipts, a table of one bigint.
 *
 * Rollout with replicas of the previous version still running:
 * - Every insert into message_events queues its rows through a statement trigger, so receipts an
 *   old replica writes are queued too.
 * - New rows get published_at = the epoch ("see the queue"), and rows waiting now move into the
 *   queue the same way, so an old relay (which reads `published_at is null` through the partial
 *   index, now empty) finds nothing and cannot publish a receipt a second time. The epoch, not
 *   -infinity: an old replica's admin timeline formats published_at as a date, and the driver
 *   reads -infinity as a number.
 * published_at keeps its time for receipts published before this migration; the column and the
 * partial index go once no replica reads them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('unpublished_receipts')
    .addColumn('id', 'bigint', (column) => column.primaryKey())
    .execute();
  await sql`alter table message_events alter column published_at set default 'epoch'`.execute(db);
  await sql`
    with waiting as (
      update message_events set published_at = 'epoch' where published_at is null returning id
    )
    insert into unpublished_receipts (id) select id from waiting
  `.execute(db);
  // The queue named with its schema (quoted by format's %I): a trigger runs under the
  // search_path of whoever inserts.
  await sql`
    do $$ begin
      execute format(
        'create function queue_unpublished_receipts() returns trigger language plpgsql as %L',
        format(
          'begin insert into %I.unpublished_receipts (id) select id from added; return null; end',
          current_schema()));
    end $$
  `.execute(db);
  await sql`
    create trigger message_events_queue after insert on message_events
    referencing new table as added for each statement execute function queue_unpublished_receipts()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger message_events_queue on message_events`.execute(db);
  await sql`drop function queue_unpublished_receipts()`.execute(db);
  await sql`
    update message_events set published_at = null
    where id in (select id from unpublished_receipts)
  `.execute(db);
  // Published since the migration, at a time nobody recorded.
  await sql`update message_events set published_at = now() where published_at = 'epoch'`.execute(
    db,
  );
  await sql`alter table message_events alter column published_at drop default`.execute(db);
  await db.schema.dropTable('unpublished_receipts').execute();
}
