import { sql, type Kysely } from 'kysely';

/**
 * What providers reported after a send, and which addresses may no longer be written to.
 *
 * - provider_events: every applied provider event once, keyed by the provider's own event id (so a
 *   webhook delivered twice changes nothing), with what applying it did (`effect`); the admin
 *   timeline reads a message's events in the order they happened.
 * - messages.delivery_status: how far the provider got with the message (sent, delivered, read, or
 *   its end: failed, bounced; unknown when the provider said something we cannot map). Kept apart
 *   from `status`, which is the dispatch's outcome.
 * - address_suppressions: an address (keyed hash, never the address) that must not receive a
 *   channel, for every category ('*') or one; the planner skips it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('provider_events')
    .addColumn('provider', 'text', (column) => column.notNull())
    .addColumn('event_id', 'text', (column) => column.notNull())
    .addColumn('message_id', 'text')
    .addColumn('channel', 'text', (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('outcome', 'text')
    .addColumn('provider_status', 'text')
    .addColumn('error_code', 'text')
    .addColumn('detail', 'text')
    .addColumn('occurred_at', 'timestamptz', (column) => column.notNull())
    .addColumn('received_at', 'timestamptz', (column) => column.notNull())
    .addColumn('applied_at', 'timestamptz', (column) => column.notNull())
    .addColumn('effect', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('provider_events_pkey', ['provider', 'event_id'])
    .execute();
  await db.schema
    .createIndex('provider_events_message_idx')
    .on('provider_events')
    .columns(['message_id', 'occurred_at'])
    .execute();
  // The retention purge deletes by age.
  await db.schema
    .createIndex('provider_events_received_idx')
    .on('provider_events')
    .column('received_at')
    .execute();

  await db.schema.alterTable('messages').addColumn('delivery_status', 'text').execute();

  await db.schema
    .createTable('address_suppressions')
    .addColumn('channel', 'text', (column) => column.notNull())
    .addColumn('address_hash', 'text', (column) => column.notNull())
    // '*' for every category, else the one category it holds for.
    .addColumn('scope', 'text', (column) => column.notNull())
    .addColumn('reason', 'text', (column) => column.notNull())
    // "<provider>:<event id>" of the event that caused it, or "dispatch:<message id>".
    .addColumn('source', 'text', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('address_suppressions_pkey', ['channel', 'address_hash', 'scope'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('address_suppressions').execute();
  await db.schema.alterTable('messages').dropColumn('delivery_status').execute();
  await db.schema.dropTable('provider_events').execute();
}
