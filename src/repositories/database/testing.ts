import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import {
  createDatabase,
  type DatabaseHandle,
  type DatabaseKind,
  type DatabaseLogger,
} from './database';
import { messageOf } from './errors';

/**
 * Test support shared by the repository specs and test/database.test.ts: a database of either
 * kind inside a schema of its own, so parallel runs against one server never meet.
 */

export const TEST_DATABASE_URL =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DATABASE_KINDS: readonly DatabaseKind[] = ['pglite', 'postgres'];

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly message: string;
}

/** A logger that keeps what it is told, for assertions. */
export class RecordingLogger implements DatabaseLogger {
  readonly entries: LogEntry[] = [];
  info(fields: object, message: string): void {
    this.entries.push({ level: 'info', fields, message });
  }
  warn(fields: object, message: string): void {
    this.entries.push({ level: 'warn', fields, message });
  }
  error(fields: object, message: string): void {
    this.entries.push({ level: 'error', fields, message });
  }
}

export interface TestDatabase extends DatabaseHandle {
  readonly schema: string;
  /** Drops the schema (when this handle created it) and closes the connections. */
  dispose(): Promise<void>;
}

export function randomSchemaName(): string {
  return `test_${randomBytes(6).toString('hex')}`;
}

/**
 * Opens a database of `kind` in a fresh random schema, or in `schema` when given (then the
 * caller that created it drops it). A real server that does not answer is an error, not a skip:
 * these tests exist to prove the PostgreSQL behaviour.
 */
export async function openTestDatabase(
  kind: DatabaseKind,
  options: { schema?: string; maxConnections?: number; logger?: DatabaseLogger } = {},
): Promise<TestDatabase> {
  const schema = options.schema ?? randomSchemaName();
  const ownsSchema = options.schema === undefined;
  let handle: DatabaseHandle;
  try {
    handle = await createDatabase({
      ...(kind === 'postgres' && { databaseUrl: TEST_DATABASE_URL }),
      schema,
      logger: options.logger ?? new RecordingLogger(),
      maxConnections: options.maxConnections ?? 4,
    });
  } catch (error) {
    if (kind !== 'postgres') throw error;
    throw new Error(
      `the real-PostgreSQL variant of these tests needs a server at DATABASE_URL ` +
        `(${TEST_DATABASE_URL}): ${messageOf(error)}`,
      { cause: error },
    );
  }
  return {
    ...handle,
    schema,
    dispose: async () => {
      try {
        if (ownsSchema && kind === 'postgres') {
          await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(handle.db);
        }
      } finally {
        await handle.close();
      }
    },
  };
}
