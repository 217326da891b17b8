import { sql, type Kysely } from 'kysely';

/**
 * The message log: one row per command id (the idempotency claim), every provider attempt, and
 * every status event with its receipt, which doubles as the receipts outbox. No foreign keys from
 * the events: a rejected record that never became a message still gets its receipt through the
 * outbox.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('messages')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('customer_id', 'text', (column) => column.notNull())
    .addColumn('category', 'text', (column) => column.notNull())
    // SHA-256 of the canonical command: a repeat with another payload is a conflict, not a copy.
    .addColumn('payload_hash', 'text', (column) => column.notNull())
    // The command (contacts, content) sealed with the message-log key; never stored in clear.
    .addColumn('sealed_command', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('reason_code', 'text')
    .addColumn('channel', 'text')
    .addColumn('provider', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('trace', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    // Where the claim came from (topic:partition:offset): a redelivery of that record is not a duplicate.
    .addColumn('source', 'text', (column) => column.notNull())
    // The gateway instance working on it right now; null while it waits or once it is settled.
    .addColumn('owner', 'text')
    .addColumn('deferrals', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('retries', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('received_at', 'timestamptz', (column) => column.notNull())
    .addColumn('resend_of', 'text')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('messages_customer_idx')
    .on('messages')
    .columns(['customer_id', 'created_at'])
    .execute();
  await db.schema.createIndex('messages_created_idx').on('messages').column('created_at').execute();

  await db.schema
    .createTable('message_attempts')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('message_id', 'text', (column) => column.notNull())
    .addColumn('channel', 'text', (column) => column.notNull())
    .addColumn('provider', 'text', (column) => column.notNull())
    .addColumn('owner', 'text', (column) => column.notNull())
    .addColumn('started_at', 'timestamptz', (column) => column.notNull())
    .addColumn('finished_at', 'timestamptz')
    // null while the provider call is in flight; accepted, failed, or abandoned (found in flight
    // after its owner died: the provider may or may not have the message).
    .addColumn('outcome', 'text')
    .addColumn('error_kind', 'text')
    .addColumn('vendor_code', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('detail', 'text')
    .execute();
  await db.schema
    .createIndex('message_attempts_message_idx')
    .on('message_attempts')
    .columns(['message_id', 'id'])
    .execute();

  await db.schema
    .createTable('message_events')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('message_id', 'text', (column) => column.notNull())
    .addColumn('event_id', 'uuid', (column) => column.notNull().unique())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('receipt', 'jsonb', (column) => column.notNull())
    .addColumn('kafka_key', 'text', (column) => column.notNull())
    .addColumn('occurred_at', 'timestamptz', (column) => column.notNull())
    .addColumn('published_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('message_events_message_idx')
    .on('message_events')
    .columns(['message_id', 'id'])
    .execute();
  // The relay reads the unpublished tail in id order; the partial index stays as small as the backlog.
  await db.schema
    .createIndex('message_events_unpublished_idx')
    .on('message_events')
    .column('id')
    .where(sql.ref('published_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('gateway_instances')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('started_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['gateway_instances', 'message_events', 'message_attempts', 'messages']) {
    await db.schema.dropTable(table).execute();
  }
}
