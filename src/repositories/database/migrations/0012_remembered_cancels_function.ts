import { sql, type Kysely } from 'kysely';

/**
 * The remembered-cancel check of arriving commands as one function call. The check takes the
 * customers' shared advisory locks and then reads cancel_requests in a statement of its own, so
 * that the read sees every cancel that committed while the locks waited. It was a transaction of
 * four round trips (begin, lock, read, commit) on every intake batch, a third of the gateway's
 * round trips to PostgreSQL in the benchmark. A VOLATILE function takes a fresh snapshot for each
 * statement it runs, so the same two steps inside it keep that guarantee in one call, whose
 * implicit transaction ends with the call and releases the locks.
 *
 * The table is named with its schema (quoted by format's %I): a function runs under the
 * search_path of its caller. Its read uses both partial indexes, on a generic plan too
 * (query-plans.spec.ts).
 * Replicas of the previous release keep their own transaction; both take the same locks.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    do $$ begin
      execute format($f$
        create function remembered_cancels(
          customers text[], message_ids text[], group_keys text[], since timestamptz)
        returns table (customer_id text, message_id text, group_key text, expires_at timestamptz)
        language plpgsql volatile as %L$f$,
        format($b$
          begin
            perform pg_advisory_xact_lock_shared(hashtextextended('cancel:' || c, 0))
              from unnest(customers) as c order by c;
            return query
              select r.customer_id, r.message_id, r.group_key, r.expires_at
              from %I.cancel_requests r
              where r.expires_at > since
                and (r.message_id = any(message_ids)
                  or (r.customer_id = any(customers) and r.group_key = any(group_keys)));
          end$b$,
          current_schema()));
    end $$
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function remembered_cancels(text[], text[], text[], timestamptz)`.execute(db);
}
