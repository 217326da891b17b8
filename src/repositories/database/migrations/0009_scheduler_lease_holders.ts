import { sql, type Kysely } from 'kysely';

/**
 * Leases by holder: a worker's lease names its gateway instance, so the jobs a crashed instance
 * held are released as soon as its heartbeat is stale rather than when their lease runs out. Only
 * leased rows are indexed (a rescheduled or unclaimed job has no holder), so the index stays as
 * small as the work in hand.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('scheduled_jobs_locked_by_idx')
    .on('scheduled_jobs')
    .column('locked_by')
    .where(sql.ref('locked_by'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('scheduled_jobs_locked_by_idx').execute();
}
