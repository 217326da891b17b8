import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('scheduled_jobs')
    .addColumn('id', 'uuid', (column) => column.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (column) => column.notNull())
    // UNIQUE lets any number of NULLs through: jobs without a key are never deduplicated.
    .addColumn('dedupe_key', 'text', (column) => column.unique())
    .addColumn('payload', 'jsonb', (column) => column.notNull())
    .addColumn('run_at', 'timestamptz', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('last_error', 'text')
    // The claim query and the index below rely on the two lock columns moving together.
    .addCheckConstraint(
      'scheduled_jobs_lock_columns_together',
      sql`(locked_by IS NULL) = (locked_until IS NULL)`,
    )
    .execute();
  // Workers poll by "claimable from": run_at for an unlocked job (locked_until is null), the end
  // of the lease for a claimed one, so jobs of a crashed worker come back without a sweeper.
  // One expression index serves the claim's filter and its order, and stops after LIMIT rows.
  await db.schema
    .createIndex('scheduled_jobs_available_idx')
    .on('scheduled_jobs')
    .expression(sql`coalesce(locked_until, run_at)`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('scheduled_jobs').execute();
}
