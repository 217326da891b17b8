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
 * The migrations run in one transaction, so these are plain builds, which hold writes to the table
 * until done. `if not exists` lets an operator with large tables build them beforehand with
 * `create index concurrently` under the same names (README, Deploy).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
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
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of [
    'scheduled_jobs_message_idx',
    'messages_resend_of_idx',
    'address_suppressions_hash_idx',
    'message_events_occurred_idx',
  ]) {
    await db.schema.dropIndex(index).execute();
  }
}
