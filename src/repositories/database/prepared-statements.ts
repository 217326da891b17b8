import { createHash } from 'node:crypto';
import {
  sql,
  type PostgresCursor,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
} from 'kysely';
import type { Pool, PoolClient } from 'pg';

const MARK = '/* prepared */';

/**
 * Put in the text of a hot statement (`sql\`${PREPARED} with …\``): PostgreSQL then parses and
 * analyses it once per connection rather than at every call, and plans it once when it settles on
 * a generic plan (after five calls, if that plan costs no more); parsing, analysis and planning were
 * about a fifth of its CPU in the benchmark. Only for a text that is the same at every call (columns
 * as arrays, never a list of parameters that grows with the batch), and that names the columns it
 * returns: a prepared `select *` fails once a migration adds a column.
 */
export const PREPARED = sql.raw(MARK);

/** Beyond this many marked texts something marks a text that varies: run the rest unnamed. */
const MAX_NAMES = 64;

/**
 * The pool Kysely uses, naming each marked statement after a hash of its text, so pg prepares it
 * on each connection the first time it runs there (and a changed text is a new name). Off
 * (`DATABASE_PREPARED_STATEMENTS=false`) for a pooler that moves sessions between server
 * connections, such as PgBouncer in transaction mode before 1.21.
 */
export class PreparingPool implements PostgresPool {
  private readonly names = new Map<string, string>();

  constructor(private readonly pool: Pool) {}

  async connect(): Promise<PostgresPoolClient> {
    return new PreparingClient(await this.pool.connect(), this.names);
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

class PreparingClient implements PostgresPoolClient {
  constructor(
    private readonly client: PoolClient,
    private readonly names: Map<string, string>,
  ) {}

  query<R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    textOrCursor: string | PostgresCursor<R>,
    parameters: ReadonlyArray<unknown> = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof textOrCursor !== 'string') {
      return (this.client as unknown as PostgresPoolClient).query(textOrCursor);
    }
    // Without a name (unmarked, or past MAX_NAMES) pg sends the statement unnamed, as before.
    return this.client.query({
      name: this.nameOf(textOrCursor),
      text: textOrCursor,
      values: [...parameters],
    }) as unknown as Promise<PostgresQueryResult<R>>;
  }

  release(destroy?: boolean): void {
    this.client.release(destroy);
  }

  private nameOf(text: string): string | undefined {
    if (!text.includes(MARK)) return undefined;
    const known = this.names.get(text);
    if (known !== undefined || this.names.size >= MAX_NAMES) return known;
    const name = `omnigate_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.names.set(text, name);
    return name;
  }
}
