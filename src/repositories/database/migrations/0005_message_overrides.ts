import type { Kysely } from 'kysely';

/**
 * An admin's audited overrides (opt-out, caps) belong to the message, not to one run of it: a
 * resend deferred by quiet hours or a retry must still carry them when the scheduler runs it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('overrides', 'jsonb').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('overrides').execute();
}
