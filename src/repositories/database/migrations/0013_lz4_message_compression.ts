import { sql, type Kysely } from 'kysely';

/**
 * lz4 instead of pglz for the two large values of a message. A messages row is about 2.1 KB, over
 * the 2 KB at which PostgreSQL tries to compress a row's largest values before storing it, at the
 * claim and again at the settle. The first it tries is sealed_command, ciphertext that never
 * compresses; pglz gave up on it only after about 9 µs a row (pglz_compress was the server's
 * busiest function in the benchmark's profile), lz4 after about 2.5, and lz4 still compresses the
 * trace about as small.
 *
 * Only values written from now on use it: no rewrite, and rows compressed with pglz stay readable.
 * A server built without lz4 (and PGlite) keeps pglz. Replicas of the previous release write
 * through the same columns and get lz4 too.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The change needs the table to itself for a moment; see 0011 for why the wait is bounded.
  await sql`set local lock_timeout = '5s'`.execute(db);
  await sql`
    do $$ begin
      if exists (select from pg_settings
          where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
        alter table messages
          alter column sealed_command set compression lz4,
          alter column trace set compression lz4;
      end if;
    end $$
  `.execute(db);
  await sql`set local lock_timeout to default`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table messages
      alter column sealed_command set compression default,
      alter column trace set compression default
  `.execute(db);
}
