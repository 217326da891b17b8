import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { Pool } from 'pg';
import { messageOf } from './errors';
import { PreparingPool } from './prepared-statements';
import type { Database } from './types';

export type DatabaseKind = 'postgres' | 'pglite';

/** Nest injection token for the shared `Kysely<Database>`. */
export const KYSELY = Symbol('KYSELY');

/** The part of the pino logger this module uses, so tests can pass a recorder. */
export interface DatabaseLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DatabaseOptions {
  /** postgres://… — absent means the embedded PGlite. */
  readonly databaseUrl?: string;
  /** Where PGlite keeps its files; absent means in memory (gone at exit). */
  readonly pgliteDataDir?: string;
  readonly logger: DatabaseLogger;
  /** Pooled connections per process (PostgreSQL only); replicas × this must fit max_connections. */
  readonly maxConnections?: number;
  /** How long to wait for a PostgreSQL connection, at start and from the pool. */
  readonly connectTimeoutMs?: number;
  /** PostgreSQL's statement_timeout on every connection: the server cancels a longer statement. */
  readonly statementTimeoutMs?: number;
  /**
   * The client's own limit on a query's answer. Longer than the statement timeout, so it only
   * fires when the server (or the network to it) has gone silent, which the server cannot report.
   */
  readonly queryTimeoutMs?: number;
  /** An unused pooled connection is closed after this long. */
  readonly idleTimeoutMs?: number;
  /**
   * Schema holding the tables, set as the search_path of every connection and created when
   * missing. Absent: the server's default (normally public). Tests use one schema each.
   */
  readonly schema?: string;
  /**
   * Statements marked PREPARED are prepared once per connection (PostgreSQL only; default on).
   * Off for a pooler that moves sessions between server connections (PgBouncer in transaction
   * mode before 1.21).
   */
  readonly preparedStatements?: boolean;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseKind;
  /** Ends the pool or shuts PGlite down; safe to call more than once. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_CONNECTIONS = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
const DEFAULT_QUERY_TIMEOUT_MS = 35_000;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
// Kept to plain identifiers so the name needs no quoting inside the libpq `options` string.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the database the configuration asks for and checks it answers, so a wrong URL fails the
 * start instead of the first message.
 */
export async function createDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(
      `database schema "${options.schema}" must be lower-case letters, digits and _ (max 63)`,
    );
  }
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options)
    : openPglite(options.pgliteDataDir, options);
}

async function openPostgres(
  databaseUrl: string,
  options: DatabaseOptions,
): Promise<DatabaseHandle> {
  const target = describeUrl(databaseUrl);
  const max = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(max) || max < 1) {
    throw new Error(`maxConnections must be a positive integer, got ${max}`);
  }
  const pool = new Pool({
    connectionString: withSearchPath(databaseUrl, options.schema),
    max,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    query_timeout: options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
    idleTimeoutMillis: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    // TCP keepalive finds a peer that vanished without closing (a dead node, a dropped NAT entry),
    // which would otherwise hold a pooled connection until the query timeout.
    keepAlive: true,
    application_name: 'omnigate',
  });
  // A connection that breaks emits 'error' on its client, and an 'error' without a listener ends
  // the process. The pool listens only while a client is idle; a client checked out (a query or a
  // transaction in flight when the server went away) has nobody listening, so every client gets
  // its own listener for its whole life. The query in flight rejects with the same error and is
  // handled by its caller; this line says the connection is gone.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      options.logger.error(
        { error: messageOf(error), database: target },
        'PostgreSQL connection failed',
      );
    });
  });
  // The pool re-emits an idle client's error, already logged by the listener above.
  pool.on('error', () => undefined);
  const handle = toHandle(
    new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: options.preparedStatements === false ? pool : new PreparingPool(pool),
      }),
    }),
    'postgres',
  );
  try {
    await sql`select 1`.execute(handle.db);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw new Error(`PostgreSQL at ${target} is unreachable: ${messageOf(error)}`, {
      cause: error,
    });
  }
  try {
    if (options.schema) await ensureSchema(handle.db, options.schema);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  options.logger.info({ database: target, maxConnections: max }, 'connected to PostgreSQL');
  return handle;
}

async function openPglite(
  dataDir: string | undefined,
  options: DatabaseOptions,
): Promise<DatabaseHandle> {
  const pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
  const handle = toHandle(new Kysely<Database>({ dialect: new PGliteDialect(pglite) }), 'pglite');
  try {
    if (options.schema) {
      await ensureSchema(handle.db, options.schema);
      // PGlite is one session for its whole life, so a session setting holds for every query.
      await sql`set search_path to ${sql.id(options.schema)}`.execute(handle.db);
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  options.logger.warn(
    { database: 'pglite', dataDir: dataDir ?? 'in memory' },
    'using the embedded PGlite database (no DATABASE_URL): fine for one local instance, but ' +
      'multi-replica guarantees (job claims across workers, concurrent consumers) need a real ' +
      'PostgreSQL',
  );
  return handle;
}

function toHandle(db: Kysely<Database>, kind: DatabaseKind): DatabaseHandle {
  let closing: Promise<void> | undefined;
  return {
    db,
    kind,
    close: () => (closing ??= db.destroy()),
  };
}

/**
 * Checks first, so a role without CREATE on the database can still use an existing schema. Two
 * processes starting together can both find it missing; PostgreSQL's IF NOT EXISTS does not
 * cover that race (one of them gets a unique violation on pg_namespace), so that loser's error
 * means the schema is there.
 */
async function ensureSchema(db: Kysely<Database>, schema: string): Promise<void> {
  const found = await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(db);
  if (found.rows.length > 0) return;
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== UNIQUE_VIOLATION && code !== DUPLICATE_SCHEMA) throw error;
  }
}

const UNIQUE_VIOLATION = '23505';
const DUPLICATE_SCHEMA = '42P06';

/**
 * Sets search_path as a connection start-up option: it then holds from the first query on,
 * with no extra round trip. A URL that already carries `options` keeps them.
 */
function withSearchPath(databaseUrl: string, schema: string | undefined): string {
  if (!schema) return databaseUrl;
  const url = new URL(databaseUrl);
  const existing = url.searchParams.get('options');
  url.searchParams.set('options', [existing, `-c search_path=${schema}`].filter(Boolean).join(' '));
  return url.toString();
}

/** host:port/database, never the password, for logs and errors. */
function describeUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    throw new Error('DATABASE_URL is not a valid URL (expected postgres://user@host:port/db)');
  }
}
