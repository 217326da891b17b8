import { randomBytes } from 'node:crypto';
import {
  CompiledQuery,
  sql,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { Client } from 'pg';
import {
  createDatabase,
  type DatabaseHandle,
  type DatabaseKind,
  type DatabaseLogger,
} from './database';
import { messageOf } from './errors';
import type { Database } from './types';

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

/**
 * Keeps every statement a Kysely instance sends (BEGIN and COMMIT aside), compiled, so a spec can
 * count them or ask the planner about the very statement a repository ran:
 * `db.withPlugin(recorder)`.
 */
export class StatementRecorder implements KyselyPlugin {
  readonly statements: CompiledQuery[] = [];
  constructor(private readonly db: Kysely<Database>) {}
  get count(): number {
    return this.statements.length;
  }
  clear(): void {
    this.statements.length = 0;
  }
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.statements.push(this.db.getExecutor().compileQuery(args.node, args.queryId));
    return args.node;
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
  /** The last statement whose text matches. */
  last(pattern: RegExp): CompiledQuery {
    const found = this.statements.filter((statement) => pattern.test(statement.sql)).at(-1);
    if (!found) throw new Error(`no statement matching ${String(pattern)} was sent`);
    return found;
  }
}

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/**
 * Rows the plan of `query` read from `table`: what its scans of the table returned and what their
 * filters removed, over all loops. Run with EXPLAIN ANALYZE in a transaction that is rolled back,
 * so a write is planned and run against the data as it is, and leaves it so.
 */
export async function rowsReadByPlan(
  db: Kysely<Database>,
  query: CompiledQuery,
  table: string,
): Promise<number> {
  return db.connection().execute(async (connection) => {
    await sql`begin`.execute(connection);
    try {
      const { rows } = await connection.executeQuery<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        CompiledQuery.raw(`explain (analyze, format json) ${query.sql}`, [...query.parameters]),
      );
      return rowsRead(rows[0]!['QUERY PLAN'][0]!.Plan, table);
    } finally {
      await sql`rollback`.execute(connection);
    }
  });
}

/**
 * Rows that the statements inside a function call read from `table`, each run on its generic plan
 * (the plan a PL/pgSQL statement may settle on after its first calls, with no parameter values
 * to plan by): auto_explain reports every nested statement's plan to the session as a notice.
 * PostgreSQL only; the call runs in a transaction that is rolled back.
 */
export async function rowsReadInsideCall(
  schema: string,
  call: string,
  parameters: readonly unknown[],
  table: string,
): Promise<number> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  const plans: PlanNode[] = [];
  client.on('notice', (notice) => {
    const text = notice.message ?? '';
    const json = text.indexOf('{');
    if (json >= 0) plans.push((JSON.parse(text.slice(json)) as { Plan: PlanNode }).Plan);
  });
  await client.connect();
  try {
    await client.query(`set search_path to ${client.escapeIdentifier(schema)}`);
    await client.query(`load 'auto_explain'`);
    await client.query(`set auto_explain.log_min_duration = 0;
      set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;
      set auto_explain.log_format = json; set auto_explain.log_level = notice;
      set plan_cache_mode = force_generic_plan`);
    await client.query('begin');
    try {
      await client.query(call, [...parameters]);
    } finally {
      await client.query('rollback');
    }
  } finally {
    await client.end();
  }
  return plans.reduce((sum, plan) => sum + rowsRead(plan, table), 0);
}

function rowsRead(node: PlanNode, table: string): number {
  const own =
    node['Relation Name'] === table
      ? (node['Actual Rows'] +
          (node['Rows Removed by Filter'] ?? 0) +
          (node['Rows Removed by Index Recheck'] ?? 0)) *
        node['Actual Loops']
      : 0;
  return (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, table), own);
}
