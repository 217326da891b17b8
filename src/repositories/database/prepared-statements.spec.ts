import { sql, type Kysely } from 'kysely';
import { createDatabase, type DatabaseHandle } from './database';
import { PREPARED } from './prepared-statements';
import { randomSchemaName, RecordingLogger, TEST_DATABASE_URL } from './testing';
import type { Database } from './types';

/** The statements prepared by name on the connection that runs this (one connection: pool of 1). */
async function preparedOn(db: Kysely<Database>): Promise<Array<{ name: string; text: string }>> {
  const { rows } = await sql<{ name: string; text: string }>`
    select name, statement as text from pg_prepared_statements order by prepare_time`.execute(db);
  return rows;
}

describe('statements marked PREPARED, on PostgreSQL', () => {
  const opened: Array<{ handle: DatabaseHandle; schema: string }> = [];
  const open = async (preparedStatements?: boolean): Promise<Kysely<Database>> => {
    const schema = randomSchemaName();
    const handle = await createDatabase({
      databaseUrl: TEST_DATABASE_URL,
      schema,
      maxConnections: 1,
      logger: new RecordingLogger(),
      ...(preparedStatements !== undefined && { preparedStatements }),
    });
    opened.push({ handle, schema });
    return handle.db;
  };
  afterEach(async () => {
    for (const { handle, schema } of opened.splice(0)) {
      try {
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(handle.db);
      } finally {
        await handle.close();
      }
    }
  });

  it('are prepared once on a connection under a name that follows the text; others are not', async () => {
    const db = await open();
    const twice = (n: number) => sql<{ n: number }>`${PREPARED} select ${n}::int + 1 as n`;

    expect((await twice(1).execute(db)).rows).toEqual([{ n: 2 }]);
    expect((await twice(41).execute(db)).rows).toEqual([{ n: 42 }]);
    await sql`select ${7}::int as unmarked`.execute(db);
    await sql`${PREPARED} select ${'x'}::text as other`.execute(db);

    const prepared = await preparedOn(db);
    expect(prepared.map((row) => row.text)).toEqual([
      '/* prepared */ select $1::int + 1 as n',
      '/* prepared */ select $1::text as other',
    ]);
    expect(prepared[0]!.name).toMatch(/^omnigate_[0-9a-f]{24}$/);
    expect(prepared[1]!.name).not.toBe(prepared[0]!.name);
  });

  it('work inside a transaction, and an error in one leaves the connection usable', async () => {
    const db = await open();
    const divide = (by: number) => sql<{ q: number }>`${PREPARED} select 10 / ${by}::int as q`;

    await expect(
      db.transaction().execute(async (trx) => {
        expect((await divide(5).execute(trx)).rows).toEqual([{ q: 2 }]);
        await divide(0).execute(trx);
      }),
    ).rejects.toThrow('division by zero');
    expect((await divide(2).execute(db)).rows).toEqual([{ q: 5 }]);
    expect(await preparedOn(db)).toHaveLength(1);
  });

  it('run unnamed when turned off (for a pooler that moves sessions between connections)', async () => {
    const db = await open(false);

    expect((await sql<{ n: number }>`${PREPARED} select 1 as n`.execute(db)).rows).toEqual([
      { n: 1 },
    ]);
    expect(await preparedOn(db)).toEqual([]);
  });
});
