import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<unknown>: they must keep compiling unchanged when the Database type moves on.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('customer_profiles')
    .addColumn('customer_id', 'text', (column) => column.primaryKey())
    .addColumn('document', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('time_zone', 'text', (column) => column.notNull().defaultTo('UTC'))
    .addColumn('locale', 'text')
    .addColumn('version', 'bigint', (column) => column.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('deleted_at', 'timestamptz')
    // Updates merge with `||`, which concatenates arrays instead of merging keys.
    .addCheckConstraint(
      'customer_profiles_document_is_object',
      sql`jsonb_typeof(document) = 'object'`,
    )
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('customer_profiles').execute();
}
