import { sql } from 'kysely';
import { AddressSuppressionRepository } from '../address-suppression.repository';
import { deleteJobsOf } from '../cancellation.repository';
import { oldestQueued, ReceiptOutboxRepository } from '../receipt-outbox.repository';
import { migrateToLatest } from './migrate';
import {
  DATABASE_KINDS,
  openTestDatabase,
  rowsReadByPlan,
  rowsReadInsideCall,
  StatementRecorder,
  type TestDatabase,
} from './testing';

// Without this, PGlite cannot start inside Jest's sandbox: see database/pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('./pglite-outside-jest')>('./pglite-outside-jest')
    .pgliteOutsideJest(),
);

/** Rows that the statement must not read: enough that a scan of them all stands out. */
const OTHERS = 3000;

/**
 * Statements whose answer is small must read about that many rows however large their table
 * grows. Each spec fills a table with rows the statement does not want, then reads the plan of
 * the statement the repository sent.
 */
describe.each(DATABASE_KINDS)('query plans on %s', (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate message_events, unpublished_receipts, address_suppressions, scheduled_jobs, cancel_requests`.execute(
      database.db,
    );
  });

  /** `count` receipts of message `prefix-n`, occurred `ageDays` ago, published unless `queued`. */
  const receipts = async (prefix: string, count: number, ageDays: number, queued = false) => {
    await sql`
      insert into message_events (message_id, event_id, status, receipt, kafka_key, occurred_at)
      select ${prefix} || '-' || g, md5(${prefix} || g)::uuid, 'sent', '{}', 'c',
        now() - make_interval(days => ${ageDays})
      from generate_series(1, ${count}::int) as g`.execute(database.db);
    if (!queued) {
      await sql`delete from unpublished_receipts where id in (
        select id from message_events where message_id like ${prefix + '-%'})`.execute(database.db);
    }
  };
  const analyze = (table: string) => sql`analyze ${sql.table(table)}`.execute(database.db);

  it('the relay reads the queued receipts by their ids, not through those published before them', async () => {
    await receipts('published', OTHERS, 0);
    await receipts('queued', 3, 0, true);
    await analyze('message_events');

    const read = await rowsReadByPlan(
      database.db,
      oldestQueued(database.db, 500).compile(),
      'message_events',
    );

    expect(read).toBe(3);
  });

  it('retention reads the old receipts by time, not every receipt', async () => {
    await receipts('young', OTHERS, 1);
    await receipts('old', 5, 40);
    await analyze('message_events');
    const recorder = new StatementRecorder(database.db);
    const outbox = new ReceiptOutboxRepository(database.db.withPlugin(recorder));

    await outbox.purgePublishedBefore(new Date(Date.now() - 30 * 86_400_000));
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from message_events`.execute(database.db);
    expect(rows[0]!.n).toBe(OTHERS);

    await receipts('older', 5, 50);
    const read = await rowsReadByPlan(
      database.db,
      recorder.last(/delete from "message_events"/),
      'message_events',
    );
    // The five old receipts from the occurred_at index, then each by its id for the delete.
    expect(read).toBeGreaterThanOrEqual(5);
    expect(read).toBeLessThanOrEqual(10);
  });

  it('the planner looks suppressions up by address hash, not through every suppression', async () => {
    await sql`
      insert into address_suppressions (channel, address_hash, scope, reason, source)
      select 'sms', 'other-' || g, '*', 'bounce', 'seed' from generate_series(1, ${OTHERS}::int) as g
    `.execute(database.db);
    await sql`
      insert into address_suppressions (channel, address_hash, scope, reason, source)
      values ('email', 'wanted', '*', 'bounce', 'seed'), ('sms', 'wanted', '*', 'stop', 'seed')
    `.execute(database.db);
    await analyze('address_suppressions');
    const recorder = new StatementRecorder(database.db);
    const suppressions = new AddressSuppressionRepository(database.db.withPlugin(recorder));

    const found = await suppressions.findByHashes(['wanted', 'unknown']);

    expect(found.map((row) => row.channel).sort()).toEqual(['email', 'sms']);
    const read = await rowsReadByPlan(
      database.db,
      recorder.last(/from "address_suppressions"/),
      'address_suppressions',
    );
    expect(read).toBe(2);
  });

  if (kind === 'postgres') {
    it('the remembered-cancel check reads the cancels of its messages by index, on a generic plan too', async () => {
      await sql`
        insert into cancel_requests (cancel_id, customer_id, message_id, group_key, reason_code,
          reason_message, requested_by, requested_at, outcome, expires_at)
        select 'k-' || g, 'other-' || g, case when g % 2 = 0 then 'other-m-' || g end,
          case when g % 2 = 1 then 'other-g-' || g end, 'X', 'x', 'test', now(), 'unknown',
          now() + interval '1 day'
        from generate_series(1, ${OTHERS}::int) as g
        union all
        select 'k-m', 'c-1', 'm-1', null, 'X', 'x', 'test', now(), 'remembered',
          now() + interval '1 day'
        union all
        select 'k-g', 'c-2', null, 'g-1', 'X', 'x', 'test', now(), 'remembered',
          now() + interval '1 day'`.execute(database.db);
      await analyze('cancel_requests');

      const read = await rowsReadInsideCall(
        database.schema,
        'select * from remembered_cancels($1::text[], $2::text[], $3::text[], $4::timestamptz)',
        [['c-1', 'c-2'], ['m-1', 'm-9'], ['g-1'], new Date(Date.now() - 3_600_000)],
        'cancel_requests',
      );

      expect(read).toBe(2);
    });
  }

  it("a cancel deletes its messages' jobs by message id, not through every job", async () => {
    await sql`
      insert into scheduled_jobs (kind, payload, run_at)
      select 'dispatch.deferred', jsonb_build_object('messageId', 'other-' || g), now()
      from generate_series(1, ${OTHERS}::int) as g`.execute(database.db);
    await sql`
      insert into scheduled_jobs (kind, payload, run_at) values
        ('dispatch.deferred', '{"messageId": "m-1"}', now()),
        ('escalation', '{"messageId": "m-1", "step": 2}', now()),
        ('dispatch.deferred', '{"messageId": "m-2"}', now())`.execute(database.db);
    await analyze('scheduled_jobs');

    const query = deleteJobsOf(database.db, ['m-1', 'm-2']).compile();
    expect(await rowsReadByPlan(database.db, query, 'scheduled_jobs')).toBe(3);

    await deleteJobsOf(database.db, ['m-1']).execute();
    const { rows } = await sql<{ id: string | null }>`
      select payload ->> 'messageId' as id from scheduled_jobs
      where payload ->> 'messageId' not like 'other-%'`.execute(database.db);
    expect(rows).toEqual([{ id: 'm-2' }]);
  });
});
