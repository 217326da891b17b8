import {
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
  const migrator = await createMigrator(db, migrations);
  return applied(await migrator.migrateToLatest());
}

/** Runs every `down`, newest first, leaving only Kysely's bookkeeping tables. */
export async function migrateDownAll(
  db: Kysely<Database>,
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
): Promise<readonly string[]> {
  const migrator = await createMigrator(db, migrations);
  return applied(await migrator.migrateTo(NO_MIGRATIONS));
}

/** Names of the migrations already run, oldest first. */
export async function executedMigrations(db: Kysely<Database>): Promise<readonly string[]> {
  const migrator = await createMigrator(db, MIGRATIONS);
  const all = await migrator.getMigrations();
  return all.filter((migration) => migration.executedAt !== undefined).map((m) => m.name);
}

async function createMigrator(
  db: Kysely<Database>,
  migrations: Readonly<Record<string, Migration>>,
): Promise<Migrator> {
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
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve({ ...migrations }) },
    migrationTableSchema: schema,
    // Migrations are numbered by branch; one merged later may sort before one already run.
    allowUnorderedMigrations: true,
  });
}

function applied({ error, results }: MigrationResultSet): readonly string[] {
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new MigrationFailedError(failed?.migrationName, error);
  }
  return (results ?? []).map((result) => result.migrationName);
}
