import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely, type Migration } from 'kysely';
import { isDependencyFailure } from '../dependency-failure';
import { createDatabase } from './database';
import {
  executedMigrations,
  migrateDownAll,
  migrateToLatest,
  MigrationFailedError,
} from './migrate';
import { MIGRATIONS } from './migrations';
import {
  DATABASE_KINDS,
  openTestDatabase,
  RecordingLogger,
  TEST_DATABASE_URL,
  type TestDatabase,
} from './testing';
import type { Database } from './types';

// Without this, PGlite cannot start inside Jest's sandbox: see pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('./pglite-outside-jest')>('./pglite-outside-jest')
    .pgliteOutsideJest(),
);

const ALL = Object.keys(MIGRATIONS);

/** The migrations numbered up to `number` (four digits), for a database of an older release. */
function migrationsThrough(number: string): Record<string, Migration> {
  return Object.fromEntries(
    Object.entries(MIGRATIONS).filter(([name]) => name.slice(0, 4) <= number),
  );
}

async function tablesIn(db: Kysely<Database>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = ${schema} order by table_name`.execute(db);
  return rows.map((row) => row.name);
}

async function indexesOf(db: Kysely<Database>, schema: string, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select indexname as name from pg_indexes
    where schemaname = ${schema} and tablename = ${table} order by indexname`.execute(db);
  return rows.map((row) => row.name);
}

describe.each(DATABASE_KINDS)('migrations on %s', (kind) => {
  let database: TestDatabase;
  const logger = new RecordingLogger();

  beforeAll(async () => {
    database = await openTestDatabase(kind, { logger });
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('opens the kind asked for and says which it is', () => {
    expect(database.kind).toBe(kind);
    expect(logger.entries).toHaveLength(1);
    const [entry] = logger.entries;
    if (kind === 'pglite') {
      expect(entry).toMatchObject({
        level: 'warn',
        fields: { database: 'pglite', dataDir: 'in memory' },
      });
      expect(entry?.message).toMatch(/embedded PGlite.*multi-replica.*real PostgreSQL/s);
    } else {
      expect(entry).toMatchObject({
        level: 'info',
        fields: { maxConnections: 4 },
        message: 'connected to PostgreSQL',
      });
      // host:port/database, and never credentials.
      expect(entry?.fields).toHaveProperty('database', expect.stringMatching(/^[^@]+:\d+\/\w+$/));
    }
  });

  it('runs every migration up from an empty schema, in name order', async () => {
    expect(await tablesIn(database.db, database.schema)).toEqual([]);

    expect(await migrateToLatest(database.db)).toEqual(ALL);

    expect(await executedMigrations(database.db)).toEqual(ALL);
    expect(await tablesIn(database.db, database.schema)).toEqual([
      'address_suppressions',
      'admin_audit',
      'cancel_requests',
      'customer_profiles',
      'gateway_instances',
      'kysely_migration',
      'kysely_migration_lock',
      'message_attempts',
      'message_events',
      'messages',
      'provider_events',
      'scheduled_jobs',
      'unpublished_receipts',
    ]);
    expect(await indexesOf(database.db, database.schema, 'provider_events')).toEqual([
      'provider_events_message_idx',
      'provider_events_pkey',
      'provider_events_received_idx',
    ]);
    expect(await indexesOf(database.db, database.schema, 'message_events')).toEqual([
      'message_events_event_id_key',
      'message_events_message_idx',
      'message_events_occurred_idx',
      'message_events_pkey',
      'message_events_unpublished_idx',
    ]);
    expect(await indexesOf(database.db, database.schema, 'scheduled_jobs')).toEqual([
      'scheduled_jobs_available_idx',
      'scheduled_jobs_dedupe_key_key',
      'scheduled_jobs_locked_by_idx',
      'scheduled_jobs_message_idx',
      'scheduled_jobs_pkey',
    ]);
    expect(await indexesOf(database.db, database.schema, 'messages')).toContain(
      'messages_resend_of_idx',
    );
    expect(await indexesOf(database.db, database.schema, 'address_suppressions')).toContain(
      'address_suppressions_hash_idx',
    );
  });

  it('compresses a message with lz4 where the server has it, and with pglz where not (0013)', async () => {
    const { rows: methods } = await sql<{ name: string; method: string }>`
      select attname as name, attcompression::text as method from pg_attribute
      where attrelid = 'messages'::regclass and attname in ('sealed_command', 'trace')
      order by attname`.execute(database.db);
    // PGlite is built without lz4; the PostgreSQL of the tests (and of the benchmark) with it.
    const expected = kind === 'pglite' ? '' : 'l';
    expect(methods).toEqual([
      { name: 'sealed_command', method: expected },
      { name: 'trace', method: expected },
    ]);

    // A row over the 2 KB at which the server compresses: ciphertext-like text that stays as it
    // is, and a trace that compresses.
    const trace = JSON.stringify(
      Array.from({ length: 40 }, (_, i) => ({ step: i, channel: 'email', outcome: 'SENT' })),
    );
    await sql`insert into messages (id, customer_id, category, payload_hash, sealed_command,
        status, trace, source, received_at)
      values ('lz4-probe', 'c', 'marketing', 'h', ${randomBytes(1100).toString('base64')},
        'SENT', ${trace}::jsonb, 'kafka', now())`.execute(database.db);
    const { rows } = await sql<{ sealed: string | null; trace: string | null }>`
      select pg_column_compression(sealed_command) as sealed, pg_column_compression(trace) as trace
      from messages where id = 'lz4-probe'`.execute(database.db);
    expect(rows).toEqual([{ sealed: null, trace: kind === 'pglite' ? 'pglz' : 'lz4' }]);
    await sql`delete from messages where id = 'lz4-probe'`.execute(database.db);
  });

  it('does nothing when already at the latest migration', async () => {
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('rejects a document that is not a JSON object', async () => {
    await expect(
      sql`insert into customer_profiles (customer_id, document) values ('x', '[]')`.execute(
        database.db,
      ),
    ).rejects.toThrow(/customer_profiles_document_is_object/);
  });

  it('rolls every migration back down, newest first', async () => {
    expect(await migrateDownAll(database.db)).toEqual([...ALL].reverse());

    expect(await executedMigrations(database.db)).toEqual([]);
    expect(await tablesIn(database.db, database.schema)).toEqual([
      'kysely_migration',
      'kysely_migration_lock',
    ]);
  });

  it('names the failing migration and keeps nothing of the failed run', async () => {
    const broken: Migration = {
      up: async (db) => {
        await sql`select * from no_such_table`.execute(db);
      },
    };
    const failure = migrateToLatest(database.db, { ...MIGRATIONS, '0099_broken': broken });

    await expect(failure).rejects.toThrow(MigrationFailedError);
    await expect(failure).rejects.toThrow(
      /^database migration 0099_broken failed: .*no_such_table/,
    );
    await expect(failure).rejects.toMatchObject({ migrationName: '0099_broken' });
    // The whole run is one transaction, so the good migrations before it are rolled back too.
    expect(await executedMigrations(database.db)).toEqual([]);
    expect(await tablesIn(database.db, database.schema)).not.toContain('customer_profiles');
  });

  it('migrates up again after a rollback', async () => {
    expect(await migrateToLatest(database.db)).toEqual(ALL);
  });

  it('will not start on a schema a newer release migrated, and names what it does not know', async () => {
    const newer: Migration = {
      up: async (db) => {
        await sql`create table newer_release_table (id integer)`.execute(db);
      },
      down: async (db) => {
        await sql`drop table newer_release_table`.execute(db);
      },
    };
    const newerRelease = { ...MIGRATIONS, '0099_newer': newer };
    expect(await migrateToLatest(database.db, newerRelease)).toEqual(['0099_newer']);

    const refused = migrateToLatest(database.db);
    await expect(refused).rejects.toThrow(MigrationFailedError);
    await expect(refused).rejects.toThrow(
      /^database migrations failed: the database has run 0099_newer, which this release does not know: a newer release migrated it/,
    );
    expect(await tablesIn(database.db, database.schema)).toContain('newer_release_table');

    // Once the newer release has taken its migration back, this one starts again.
    expect(await migrateDownAll(database.db, newerRelease)).toEqual([
      '0099_newer',
      ...[...ALL].reverse(),
    ]);
    expect(await migrateToLatest(database.db)).toEqual(ALL);
  });
});

describe('createDatabase', () => {
  it('keeps PGlite data in pgliteDataDir across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'omnigate-pglite-'));
    try {
      const logger = new RecordingLogger();
      const first = await createDatabase({ pgliteDataDir: dataDir, logger });
      await migrateToLatest(first.db);
      await sql`insert into customer_profiles (customer_id) values ('kept')`.execute(first.db);
      await first.close();

      const second = await createDatabase({ pgliteDataDir: dataDir, logger });
      try {
        expect(await migrateToLatest(second.db)).toEqual([]);
        const rows = await second.db
          .selectFrom('customer_profiles')
          .select('customer_id')
          .execute();
        expect(rows).toEqual([{ customer_id: 'kept' }]);
        expect(logger.entries[0]?.fields).toEqual({ database: 'pglite', dataDir });
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('fails at start with the address when PostgreSQL does not answer', async () => {
    const start = createDatabase({
      databaseUrl: 'postgres://postgres:secret@127.0.0.1:1/test',
      logger: new RecordingLogger(),
      connectTimeoutMs: 2_000,
    });
    await expect(start).rejects.toThrow(
      /^PostgreSQL at 127\.0\.0\.1:1\/test is unreachable: connect ECONNREFUSED/,
    );
    await expect(start).rejects.not.toThrow(/secret/);
  });

  it('refuses a schema name that would need quoting', async () => {
    await expect(
      createDatabase({ schema: 'Robert"; drop', logger: new RecordingLogger() }),
    ).rejects.toThrow(/must be lower-case letters/);
  });

  it('keeps options already in the URL when it adds the search_path', async () => {
    const database = await openTestDatabase('postgres');
    const url = new URL(TEST_DATABASE_URL);
    // Not statement_timeout: the pool sets that one itself (a start-up parameter wins over options).
    url.searchParams.set('options', '-c lock_timeout=4321');
    const second = await createDatabase({
      databaseUrl: url.toString(),
      schema: database.schema,
      logger: new RecordingLogger(),
    });
    try {
      const { rows } = await sql<{ path: string; timeout: string }>`
        select current_setting('search_path') as path,
               current_setting('lock_timeout') as timeout`.execute(second.db);
      expect(rows).toEqual([{ path: database.schema, timeout: '4321ms' }]);
    } finally {
      await second.close();
      await database.dispose();
    }
  });

  it('opens a new schema from many pools starting at once (as replicas do)', async () => {
    const schema = `race_${Date.now().toString(36)}`;
    const opened = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        createDatabase({
          databaseUrl: TEST_DATABASE_URL,
          schema,
          logger: new RecordingLogger(),
        }),
      ),
    );
    const handles = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    try {
      expect(opened.filter((o) => o.status === 'rejected')).toEqual([]);
    } finally {
      await handles[0]?.db.schema.dropSchema(schema).ifExists().cascade().execute();
      await Promise.all(handles.map((handle) => handle.close()));
    }
  });

  describe('timeouts', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await openTestDatabase('postgres');
    });
    afterAll(async () => {
      await database.dispose();
    });

    const open = (timeouts: { statementTimeoutMs?: number; queryTimeoutMs?: number }) =>
      createDatabase({
        databaseUrl: TEST_DATABASE_URL,
        schema: database.schema,
        logger: new RecordingLogger(),
        ...timeouts,
      });

    it('sets statement_timeout on every connection, 30 s unless told', async () => {
      const plain = await open({});
      const short = await open({ statementTimeoutMs: 1234, queryTimeoutMs: 5000 });
      try {
        const timeoutOf = async (db: Kysely<Database>) =>
          (await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(db))
            .rows[0]?.t;
        expect(await timeoutOf(plain.db)).toBe('30s');
        expect(await timeoutOf(short.db)).toBe('1234ms');
      } finally {
        await plain.close();
        await short.close();
      }
    });

    it('has the server cancel a longer statement, as a dependency failure', async () => {
      const handle = await open({ statementTimeoutMs: 200, queryTimeoutMs: 5000 });
      try {
        const failure = await sql`select pg_sleep(2)`.execute(handle.db).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toMatchObject({ code: '57014' });
        expect(isDependencyFailure(failure)).toBe(true);
      } finally {
        await handle.close();
      }
    });

    it('survives a connection cut while a client is checked out, and serves again', async () => {
      const logger = new RecordingLogger();
      const handle = await createDatabase({
        databaseUrl: TEST_DATABASE_URL,
        schema: database.schema,
        logger,
      });
      try {
        // The server ends this very session in the middle of a transaction, as a crash would.
        const failure = await handle.db
          .transaction()
          .execute((trx) => sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx))
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        expect(isDependencyFailure(failure)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(logger.entries.map((e) => e.message)).toContain('PostgreSQL connection failed');
        const { rows } = await sql<{ one: number }>`select 1 as one`.execute(handle.db);
        expect(rows).toEqual([{ one: 1 }]);
      } finally {
        await handle.close();
      }
    });

    it('gives up on its own when the answer does not come, as a dependency failure', async () => {
      // The server would wait 10 s: only the client's timer can end this query sooner.
      const handle = await open({ statementTimeoutMs: 10_000, queryTimeoutMs: 300 });
      try {
        const startedAt = Date.now();
        const failure = await sql`select pg_sleep(3)`.execute(handle.db).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(Date.now() - startedAt).toBeLessThan(2_000);
        expect(failure).toBeInstanceOf(Error);
        expect((failure as Error).message).toMatch(/query read timeout/i);
        expect(isDependencyFailure(failure)).toBe(true);
      } finally {
        await handle.close();
      }
    });
  });
});

describe.each(DATABASE_KINDS)('the receipt queue (0010) on %s', (kind) => {
  let database: TestDatabase;
  const before = migrationsThrough('0009');
  const through = migrationsThrough('0010');
  // A receipt as every version writes it: no published_at of its own.
  const writeReceipt = (eventId: string) => sql`
    insert into message_events (message_id, event_id, status, receipt, kafka_key, occurred_at)
    values ('m-1', ${eventId}::uuid, 'sent', '{}', 'c-1', now())`;
  const idOf = async (eventId: string) =>
    (
      await sql<{
        id: string;
      }>`select id::text from message_events where event_id = ${eventId}::uuid`.execute(database.db)
    ).rows[0]!.id;
  const queued = async () =>
    (
      await sql<{ id: string }>`select id::text from unpublished_receipts order by id`.execute(
        database.db,
      )
    ).rows.map((row) => row.id);
  // What a relay of the previous version reads.
  const unmarked = async () =>
    (
      await sql<{
        id: string;
      }>`select id::text from message_events where published_at is null`.execute(database.db)
    ).rows.map((row) => row.id);

  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('queues the receipts waiting at migration, leaves nothing for a relay of the previous version, and queues what any version writes after', async () => {
    await migrateToLatest(database.db, before);
    const waiting = '00000000-0000-4000-8000-000000000001';
    const published = '00000000-0000-4000-8000-000000000002';
    await writeReceipt(waiting).execute(database.db);
    await writeReceipt(published).execute(database.db);
    await sql`update message_events set published_at = '2026-01-02T03:04:05Z'
      where event_id = ${published}::uuid`.execute(database.db);

    expect(await migrateToLatest(database.db, through)).toEqual(['0010_receipt_queue']);

    expect(await queued()).toEqual([await idOf(waiting)]);
    expect(await unmarked()).toEqual([]);
    const { rows } = await sql<{ at: Date }>`
      select published_at as at from message_events where event_id = ${published}::uuid`.execute(
      database.db,
    );
    expect(rows[0]!.at.toISOString()).toBe('2026-01-02T03:04:05.000Z');

    const later = '00000000-0000-4000-8000-000000000003';
    await writeReceipt(later).execute(database.db);
    expect(await queued()).toEqual([await idOf(waiting), await idOf(later)]);
    expect(await unmarked()).toEqual([]);
    // The previous version's admin timeline formats published_at: it must read as a date.
    const stamped = await sql<{ at: Date }>`
      select published_at as at from message_events where event_id = ${later}::uuid`.execute(
      database.db,
    );
    expect(stamped.rows[0]!.at.toISOString()).toBe('1970-01-01T00:00:00.000Z');
  });

  it('rolls back to published_at: queued receipts unmarked again, the rest published', async () => {
    const waiting = await idOf('00000000-0000-4000-8000-000000000001');
    // The receipt written after the migration was published: its id left the queue.
    await sql`delete from unpublished_receipts where id = ${await idOf(
      '00000000-0000-4000-8000-000000000003',
    )}`.execute(database.db);

    await MIGRATIONS['0010_receipt_queue']!.down!(database.db as Kysely<unknown>);

    expect(await unmarked()).toEqual([waiting]);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from message_events where published_at is not null
        and published_at <> 'epoch'`.execute(database.db);
    expect(rows[0]!.n).toBe(2);
    expect(await tablesIn(database.db, database.schema)).not.toContain('unpublished_receipts');
  });
});

describe.each(DATABASE_KINDS)('the lookup indexes (0011) on %s', (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('keeps an index an operator built beforehand, rebuilds an invalid one, and builds the rest', async () => {
    await migrateToLatest(database.db, migrationsThrough('0010'));
    await sql`create index message_events_occurred_idx on message_events (occurred_at)`.execute(
      database.db,
    );
    // What a failed `create index concurrently` leaves: an invalid index under the name.
    await sql`create index messages_resend_of_idx on messages (id)`.execute(database.db);
    await sql`update pg_index set indisvalid = false
      where indexrelid = 'messages_resend_of_idx'::regclass`.execute(database.db);

    expect(await migrateToLatest(database.db, migrationsThrough('0011'))).toEqual([
      '0011_lookup_indexes',
    ]);

    const { rows } = await sql<{ name: string; valid: boolean; definition: string }>`
      select c.relname as name, i.indisvalid as valid, pg_get_indexdef(c.oid) as definition
      from pg_index i join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relname in
        ('message_events_occurred_idx', 'messages_resend_of_idx', 'scheduled_jobs_message_idx')
      order by c.relname`.execute(database.db);
    expect(rows.map(({ name, valid }) => [name, valid])).toEqual([
      ['message_events_occurred_idx', true],
      ['messages_resend_of_idx', true],
      ['scheduled_jobs_message_idx', true],
    ]);
    expect(rows[1]!.definition).toMatch(
      /\(resend_of, created_at\) WHERE \(resend_of IS NOT NULL\)/,
    );
  });
});

describe('the lookup indexes (0011) beside a writer of the previous release on postgres', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await openTestDatabase('postgres');
    await migrateToLatest(database.db, migrationsThrough('0010'));
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('gives up after its lock wait instead of queueing writers behind it, and runs once the table is free', async () => {
    await database.db.connection().execute(async (writer) => {
      await sql`begin`.execute(writer);
      try {
        // A settle in progress: it holds the receipts table open for writes.
        await sql`lock table message_events in row exclusive mode`.execute(writer);
        const startedAt = Date.now();
        await expect(migrateToLatest(database.db)).rejects.toThrow(/lock timeout/);
        expect(Date.now() - startedAt).toBeLessThan(9_000);
      } finally {
        await sql`rollback`.execute(writer);
      }
    });

    expect(await migrateToLatest(database.db, migrationsThrough('0011'))).toEqual([
      '0011_lookup_indexes',
    ]);
  }, 20_000);
});
