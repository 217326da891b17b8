import type { Kysely } from 'kysely';

/**
 * The W3C traceparent a command arrived with, kept with the message (so a run the scheduler
 * resumes continues the same trace) and with each receipt (so the relay, publishing later and
 * elsewhere, still puts it on the receipt's headers).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('traceparent', 'text').execute();
  await db.schema.alterTable('message_events').addColumn('traceparent', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('message_events').dropColumn('traceparent').execute();
  await db.schema.alterTable('messages').dropColumn('traceparent').execute();
}
