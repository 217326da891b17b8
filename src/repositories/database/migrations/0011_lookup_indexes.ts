import { sql, type Kysely } from 'kysely';

/**
 * Indexes for four lookups that read a whole table (found by planning every statement against a
 * database of 500,000 messages): each one's cost grew with the table while its answer did not.
 * - message_events by occurred_at: the retention purge (every replica, every purge interval) read
 *   every receipt to delete the old ones (1.37 million rows read to delete 420).
 * - address_suppressions by address_hash: the planner's lookup, once per dispatch batch, cannot
 *   use the primary key, which leads with the channel.
 * - messages by resend_of: the admin timeline's resends of a message; partial, since few messages
 *   are resends. Neither column changes after the claim, so updates of a message stay heap-only.
 * - scheduled_jobs by the payload's messageId: a cancel deletes the jobs of the messages it stops,
 *   inside its transaction, while it holds their locks.
 *
 * The migrations run in one transaction, so these are plain builds, and the tables stay closed to
 * writes until the run commits. An operator with large tables builds them beforehand with
 * `create index concurrently` under the same names (README, Deploy); `if not exists` keeps them,
 * and an invalid one (a concurrent build that failed) is dropped and built again.
 */
const INDEXES = [
  'message_events_occurred_idx',
  'address_suppressions_hash_idx',
  'messages_resend_of_idx',
  'scheduled_jobs_message_idx',
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  // Replicas of the previous release keep writing meanwhile. Taking every lock at once, in the
  // order their transactions write (a message, its jobs, its receipts), keeps clear of a deadlock
  // with them; waiting longer than this fails the start, and the next start tries again, rather
  // than queueing every writer behind the migration.
  await sql`set local lock_timeout = '5s'`.execute(db);
  await sql`
    lock table messages, scheduled_jobs, message_events, address_suppressions in share mode
  `.execute(db);
  const { rows: invalid } = await sql<{ name: string }>`
    select c.relname as name from pg_index i
      join pg_class c on c.oid = i.indexrelid
      join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relname = any(${[...INDEXES]}::text[])
      and not i.indisvalid
  `.execute(db);
  for (const { name } of invalid) await db.schema.dropIndex(name).execute();

  await db.schema
    .createIndex('message_events_occurred_idx')
    .ifNotExists()
    .on('message_events')
    .column('occurred_at')
    .execute();
  await db.schema
    .createIndex('address_suppressions_hash_idx')
    .ifNotExists()
    .on('address_suppressions')
    .column('address_hash')
    .execute();
  await db.schema
    .createIndex('messages_resend_of_idx')
    .ifNotExists()
    .on('messages')
    .columns(['resend_of', 'created_at'])
    .where(sql.ref('resend_of'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('scheduled_jobs_message_idx')
    .ifNotExists()
    .on('scheduled_jobs')
    .expression(sql`(payload ->> 'messageId')`)
    .execute();
  // Later migrations of the same run get the usual lock wait back.
  await sql`set local lock_timeout to default`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of [...INDEXES].reverse()) await db.schema.dropIndex(index).execute();
}
