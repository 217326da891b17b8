import { sql } from 'kysely';
import { migrateToLatest } from '../repositories/database/migrate';
import {
  DATABASE_KINDS,
  openTestDatabase,
  rowsReadByPlan,
  StatementRecorder,
  type TestDatabase,
} from '../repositories/database/testing';
import { AdminMessagesRepository } from './admin-messages.repository';

// Without this, PGlite cannot start inside Jest's sandbox: see database/pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('../repositories/database/pglite-outside-jest')>(
      '../repositories/database/pglite-outside-jest',
    )
    .pgliteOutsideJest(),
);

describe.each(DATABASE_KINDS)('AdminMessagesRepository on %s', (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it("reads a message's resends by resend_of, oldest first, not through every message", async () => {
    await sql`
      insert into messages (id, customer_id, category, payload_hash, sealed_command, status,
        source, received_at, resend_of, created_at)
      select 'other-' || g, 'c-' || (g % 100), 'marketing', 'h', 'v1.sealed', 'sent',
        'send:0:' || g, now(), null, now()
      from generate_series(1, 3000) as g`.execute(database.db);
    await sql`
      insert into messages (id, customer_id, category, payload_hash, sealed_command, status,
        source, received_at, resend_of, created_at) values
        ('m-1.r2', 'c-1', 'otp', 'h', 'v1.sealed', 'sent', 'admin', now(), 'm-1', now()),
        ('m-1.r1', 'c-1', 'otp', 'h', 'v1.sealed', 'sent', 'admin', now(), 'm-1',
          now() - interval '1 minute'),
        ('m-2.r1', 'c-2', 'otp', 'h', 'v1.sealed', 'sent', 'admin', now(), 'm-2', now())`.execute(
      database.db,
    );
    await sql`analyze messages`.execute(database.db);
    const recorder = new StatementRecorder(database.db);
    const messages = new AdminMessagesRepository(database.db.withPlugin(recorder));

    const resends = await messages.resendsOf('m-1');

    expect(resends.map((message) => message.id)).toEqual(['m-1.r1', 'm-1.r2']);
    const read = await rowsReadByPlan(database.db, recorder.last(/"resend_of" =/), 'messages');
    expect(read).toBe(2);
  });
});
