import { sql, type Kysely } from 'kysely';

/**
 * Cancellation: each message keeps the group key its command gave (indexed with the customer, as
 * a cancel by group key looks it up), and every CancelCommand is kept by its cancelId (the
 * idempotency of a cancel) until `expires_at`: a cancel that came before its send command is
 * applied when the command arrives, within that window.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('group_key', 'text').execute();
  await db.schema
    .createIndex('messages_group_key_idx')
    .on('messages')
    .columns(['customer_id', 'group_key'])
    .where(sql.ref('group_key'), 'is not', null)
    .execute();
  await db.schema
    .createTable('cancel_requests')
    .addColumn('cancel_id', 'text', (column) => column.primaryKey())
    .addColumn('customer_id', 'text', (column) => column.notNull())
    .addColumn('message_id', 'text')
    .addColumn('group_key', 'text')
    .addColumn('reason_code', 'text', (column) => column.notNull())
    .addColumn('reason_message', 'text', (column) => column.notNull())
    .addColumn('requested_by', 'text', (column) => column.notNull())
    .addColumn('requested_at', 'timestamptz', (column) => column.notNull())
    // cancelled | too_late | remembered | unknown: what the first delivery of the cancel found.
    .addColumn('outcome', 'text', (column) => column.notNull())
    .addColumn('withdrawn', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('too_late', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('cancel_requests_message_idx')
    .on('cancel_requests')
    .column('message_id')
    .where(sql.ref('message_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('cancel_requests_group_idx')
    .on('cancel_requests')
    .columns(['customer_id', 'group_key'])
    .where(sql.ref('group_key'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cancel_requests').execute();
  await db.schema.dropIndex('messages_group_key_idx').execute();
  await db.schema.alterTable('messages').dropColumn('group_key').execute();
}
