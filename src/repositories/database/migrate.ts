import {
  DEFAULT_MIGRATION_TABLE,
  Migrator,
  NO_MIGRATIONS,
  sql,
  type Kysely,
  type Migration,
  type MigrationResultSet,
} from 'kysely';
import { messageOf } from './errors';
import { MIGRATIONS } from './migrations';
import type { Database } from './types';

/** A migration failed; nothing of that run is kept, because the run is one transaction. */
export class MigrationFailedError extends Error {
  override readonly name = 'MigrationFailedError';
  constructor(
    /** The migration that threw, or undefined when the run failed before any migration. */
    readonly migrationName: string | undefined,
    cause: unknown,
  ) {
    super(
      migrationName
        ? `database migration ${migrationName} failed: ${messageOf(cause)}`
        : `database migrations failed: ${messageOf(cause)}`,
      { cause },
    );
  }
}

/**
 * Brings the schema up to the newest migration; returns the names it ran. Replicas starting
 * together are safe: Kysely holds an advisory lock for the run.
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
): Promise<readonly string[]> {
  const schema = await currentSchema(db);
  const result = await createMigrator(db, migrations, schema).migrateToLatest();
  if (result.error !== undefined) await refuseIfNewer(db, schema, migrations, result.error);
  return applied(result);
}

/**
 * Kysely refuses to run while the database has run a migration it is not given, and says only
 * that the migrations are corrupted. They are not: a newer release migrated the database, and a
 * migration may change what older code relies on, so this release does not start beside it.
 * Looked at only once a run has failed, so a normal start reads nothing more.
 */
async function refuseIfNewer(
  db: Kysely<Database>,
  schema: string,
  migrations: Readonly<Record<string, Migration>>,
  failure: unknown,
): Promise<void> {
  const executed = await executedNames(db, schema);
  const newer = executed.filter((name) => !(name in migrations));
  if (newer.length === 0) return;
  throw new MigrationFailedError(
    undefined,
    new Error(
      `the database has run ${newer.join(', ')}, which this release does not know: a newer ` +
        'release migrated it, and this one does not start on a schema it cannot vouch for ' +
        '(see README, Deploy: migrations)',
      { cause: failure },
    ),
  );
}

/** Runs every `down`, newest first, leaving only Kysely's bookkeeping tables. */
export async function migrateDownAll(
  db: Kysely<Database>,
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
): Promise<readonly string[]> {
  const migrator = createMigrator(db, migrations, await currentSchema(db));
  return applied(await migrator.migrateTo(NO_MIGRATIONS));
}

/** Names of the migrations already run, oldest first. */
export async function executedMigrations(db: Kysely<Database>): Promise<readonly string[]> {
  const executed = await executedNames(db, await currentSchema(db));
  return executed.filter((name) => name in MIGRATIONS);
}

function createMigrator(
  db: Kysely<Database>,
  migrations: Readonly<Record<string, Migration>>,
  schema: string,
): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve({ ...migrations }) },
    migrationTableSchema: schema,
    // Migrations are numbered by branch; one merged later may sort before one already run.
    allowUnorderedMigrations: true,
  });
}

async function currentSchema(db: Kysely<Database>): Promise<string> {
  // Kysely looks for its bookkeeping table in *any* schema unless told which one, so with
  // several schemas in one database (one per test run) it would find another run's table.
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(
    db,
  );
  const schema = rows[0]?.schema;
  if (!schema) {
    throw new MigrationFailedError(
      undefined,
      new Error('the search_path names no existing schema'),
    );
  }
  return schema;
}

/** Every migration the schema's bookkeeping table lists; none before the first run made it. */
async function executedNames(db: Kysely<Database>, schema: string): Promise<string[]> {
  const { rows: found } = await sql<{ present: boolean }>`
    select to_regclass(format('%I.%I', ${schema}::text, ${DEFAULT_MIGRATION_TABLE}::text))
      is not null as present`.execute(db);
  if (!found[0]?.present) return [];
  const { rows } = await sql<{ name: string }>`
    select name from ${sql.id(schema, DEFAULT_MIGRATION_TABLE)} order by name`.execute(db);
  return rows.map((row) => row.name);
}

function applied({ error, results }: MigrationResultSet): readonly string[] {
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new MigrationFailedError(failed?.migrationName, error);
  }
  return (results ?? []).map((result) => result.migrationName);
}
