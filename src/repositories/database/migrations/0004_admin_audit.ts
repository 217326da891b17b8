import { sql, type Kysely } from 'kysely';

/**
 * The admin audit log: who did what, when and why, for every resend and every override of a
 * customer's choice. Rows are only ever inserted; retention is a compliance decision, so the
 * message purge leaves them alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('admin_audit')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('actor_id', 'text', (column) => column.notNull())
    .addColumn('actor_role', 'text', (column) => column.notNull())
    .addColumn('action', 'text', (column) => column.notNull())
    .addColumn('message_id', 'text')
    .addColumn('customer_id', 'text')
    .addColumn('reason', 'text', (column) => column.notNull())
    .addColumn('details', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema
    .createIndex('admin_audit_message_idx')
    .on('admin_audit')
    .column('message_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('admin_audit').execute();
}
