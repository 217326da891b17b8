/**
 * What one process costs PostgreSQL and Redis, from the servers' own counters, for the benchmark.
 * Both servers may be shared with other work: each reading says what it counts and whether other
 * clients can be in it.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import Redis from 'ioredis';
import { Client } from 'pg';

export interface PostgresReading {
  /** Statements (pg_stat_statements) or else transactions (pg_stat_database) of the database. */
  readonly statements: number;
  /** Rows inserted, updated and deleted in the schema's own tables. */
  readonly rowsWritten: number;
  /** Sequential and index scans on the schema's own tables. */
  readonly scans: number;
  /** Rows updated in the schema's own tables, and of those the heap-only (HOT) ones. */
  readonly updates: number;
  readonly hotUpdates: number;
  /** Bytes of WAL the server has written, server-wide (every database and client counts). */
  readonly walBytes: number;
}

/**
 * pg_stat_statements counts statements when the server preloads it; otherwise the database's
 * committed and rolled-back transactions are the closest server-side count: a statement outside a
 * transaction block is one, a block of many statements is one too (so it is a lower bound).
 * Both are database-wide. The schema's table counters are the run's own.
 */
export class PostgresCounters {
  private constructor(
    private readonly client: Client,
    private readonly schema: string,
    readonly source: 'pg_stat_statements' | 'pg_stat_database transactions',
  ) {
    // A connection the server ends (the run's database dropped after a failure) must not crash
    // the script with an unhandled 'error' event; the next read reports it.
    client.on('error', (error) => {
      this.lost = error;
    });
  }

  private lost: Error | undefined;

  static async connect(url: string, schema: string): Promise<PostgresCounters> {
    const client = new Client({
      connectionString: url,
      application_name: 'omnigate-bench-counters',
    });
    await client.connect();
    const { rows } = await client.query<{ preloaded: boolean; installed: boolean }>(
      `select current_setting('shared_preload_libraries') like '%pg_stat_statements%' as preloaded,
              exists (select 1 from pg_extension where extname = 'pg_stat_statements') as installed`,
    );
    const { preloaded, installed } = rows[0]!;
    // Without the preload the view cannot be read: then leave the shared database as it is.
    if (preloaded && !installed) {
      try {
        await client.query('create extension if not exists pg_stat_statements');
      } catch {
        return new PostgresCounters(client, schema, 'pg_stat_database transactions');
      }
    }
    return new PostgresCounters(
      client,
      schema,
      preloaded ? 'pg_stat_statements' : 'pg_stat_database transactions',
    );
  }

  async read(): Promise<PostgresReading> {
    if (this.lost) {
      throw new Error('the connection for the PostgreSQL counters was lost', { cause: this.lost });
    }
    const statements =
      this.source === 'pg_stat_statements'
        ? `select coalesce(sum(calls), 0)::bigint as n from pg_stat_statements s
             join pg_database d on d.oid = s.dbid where d.datname = current_database()`
        : `select (xact_commit + xact_rollback)::bigint as n from pg_stat_database
             where datname = current_database()`;
    // One statement: pg refuses a second query on a client that is still running one (a
    // deprecation today, an error in pg 9), and the three readings come from one moment.
    const { rows } = await this.client.query<{
      statements: string;
      wal: string;
      written: string;
      scans: string;
      updates: string;
      hot: string;
    }>(
      `select (${statements}) as statements,
              pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint as wal,
              coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint as written,
              coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::bigint as scans,
              coalesce(sum(n_tup_upd), 0)::bigint as updates,
              coalesce(sum(n_tup_hot_upd), 0)::bigint as hot
         from pg_stat_user_tables where schemaname = $1`,
      [this.schema],
    );
    const row = rows[0];
    return {
      statements: Number(row?.statements ?? 0),
      rowsWritten: Number(row?.written ?? 0),
      scans: Number(row?.scans ?? 0),
      updates: Number(row?.updates ?? 0),
      hotUpdates: Number(row?.hot ?? 0),
      walBytes: Number(row?.wal ?? 0),
    };
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** Reading /proc/<pid>/net/tcp lists every socket on the host: not more often than this. */
const PORT_LOOKUP_INTERVAL_MS = 5_000;

/** The local ports of a process's TCP connections to a remote port (from /proc). */
export function localPortsTo(pid: number, remotePort: number): Set<number> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode) inodes.add(inode);
      } catch {
        // closed while we looked
      }
    }
  } catch {
    return new Set();
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const [local, remote, inode] = [fields[1], fields[2], fields[9]];
      if (!local || !remote || !inode || !inodes.has(inode)) continue;
      if (parseInt(remote.split(':')[1]!, 16) === remotePort)
        ports.add(parseInt(local.split(':')[1]!, 16));
    }
  }
  return ports;
}

const QUEUE_STATE_LINE = /^Command queue state error\..* Last reply: \d+\.\d+ \[\d+ ([^\]\s]+)\]/;

/**
 * The source of a MONITOR line that ioredis took for a reply (its error quotes the line:
 * `… Last reply: <time> [<db> <source>] "<command>" …`); undefined for any other error.
 */
export function quotedMonitorSource(message: string): string | undefined {
  return QUEUE_STATE_LINE.exec(message)?.[1];
}

interface ServerCounters {
  readonly calls: number;
  /** NaN from a server that does not report it (before Redis 6). */
  readonly reads: number;
}

/**
 * Redis commands sent by one process: MONITOR sees every command with the client's address, so
 * those from the process's own connections can be told from other clients'; a command run by a
 * script comes from "lua" and is not counted (an EVALSHA is one round trip). INFO commandstats is
 * read beside it for comparison: server-wide, and it counts the commands inside scripts too; so
 * are INFO stats' read events, the server's round trips. MONITOR is costly for the server (it
 * formats every command, those inside scripts too, for the watcher) and for this process, so it
 * is open only inside a window that watches a process.
 */
export class RedisCallCounter {
  private readonly perSource = new Map<string, number>();
  private readonly processPorts = new Set<number>();
  private monitor: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private atStart: ServerCounters = { calls: 0, reads: 0 };
  private atStop: ServerCounters = { calls: 0, reads: 0 };

  private pid: number | undefined;
  /** Why MONITOR stopped counting during the window, if it did; the count is then incomplete. */
  monitorFailure: string | undefined;

  private constructor(
    private readonly client: Redis,
    private readonly redisPort: number,
  ) {}

  static async start(url: string): Promise<RedisCallCounter> {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    return new RedisCallCounter(client, Number(new URL(url).port || 6379));
  }

  /**
   * Begins a window: INFO commandstats always; with a pid, also MONITOR and that process's
   * connections (looked up now, every few seconds, and at the end, to catch new ones).
   */
  async begin(pid?: number): Promise<void> {
    this.pid = pid;
    this.monitorFailure = undefined;
    this.perSource.clear();
    this.processPorts.clear();
    if (pid !== undefined) {
      this.lookUpPorts();
      this.timer = setInterval(() => this.lookUpPorts(), PORT_LOOKUP_INTERVAL_MS);
      // Not client.monitor(): ioredis enters monitoring mode a microtask after MONITOR's OK, so
      // lines that arrive in the same chunk as the OK are taken for replies to commands never
      // sent ("Command queue state error", the line quoted), and emitted before monitor() has
      // handed over the connection: unhandled, they ended the benchmark. Listening from the
      // start, those lines are still counted from the quoted text.
      const monitor = this.client.duplicate({ monitor: true, lazyConnect: true });
      const count = (source: string): void => {
        this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
      };
      monitor.on('monitor', (_time: string, _args: string[], source: string) => count(source));
      monitor.on('error', (error: Error) => {
        const source = quotedMonitorSource(error.message);
        if (source !== undefined) return count(source);
        this.monitorFailure ??= error.message;
        monitor.disconnect();
      });
      await new Promise<void>((resolve, reject) => {
        monitor.once('monitoring', () => resolve());
        monitor.connect().catch(reject);
      });
      this.monitor = monitor;
    }
    this.atStart = await this.serverCounters();
  }

  async end(): Promise<void> {
    this.atStop = await this.serverCounters();
    this.monitor?.disconnect();
    this.monitor = undefined;
    clearInterval(this.timer);
    this.lookUpPorts();
  }

  /** Commands from the process's own connections during the window; NaN if MONITOR failed. */
  get processCalls(): number {
    if (this.monitorFailure !== undefined) return Number.NaN;
    let calls = 0;
    for (const [source, n] of this.perSource) {
      const port = Number(source.slice(source.lastIndexOf(':') + 1));
      if (source !== 'lua' && this.processPorts.has(port)) calls += n;
    }
    return calls;
  }

  /** INFO commandstats calls during the window: every client, and commands inside scripts. */
  get serverWideCalls(): number {
    return this.atStop.calls - this.atStart.calls;
  }

  /**
   * Read events the server processed during the window (INFO stats `total_reads_processed`):
   * round trips, since commands a client pipelines or writes together arrive in one read.
   * Server-wide, so other clients' count too (this counter's own INFO adds two).
   */
  get serverWideReads(): number {
    return this.atStop.reads - this.atStart.reads;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.monitor?.disconnect();
    await this.client.quit();
  }

  private lookUpPorts(): void {
    if (this.pid === undefined) return;
    for (const port of localPortsTo(this.pid, this.redisPort)) this.processPorts.add(port);
  }

  private async serverCounters(): Promise<ServerCounters> {
    const commandStats = await this.client.info('commandstats');
    let calls = 0;
    for (const match of commandStats.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) {
      calls += Number(match[1]);
    }
    const stats = await this.client.info('stats');
    const reads = Number(/^total_reads_processed:(\d+)/m.exec(stats)?.[1] ?? Number.NaN);
    return { calls, reads };
  }
}

/**
 * A database of the run's own next to the given one, so that the server's database-wide counters
 * are the gateway's alone; undefined when the role may not create one.
 */
export async function createOwnDatabase(url: string, name: string): Promise<string | undefined> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } catch {
    return undefined;
  } finally {
    await client.end();
  }
  const own = new URL(url);
  own.pathname = `/${name}`;
  return own.toString();
}

export async function dropOwnDatabase(url: string, name: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}
