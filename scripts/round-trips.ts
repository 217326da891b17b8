/**
 * `npm run round-trips [-- --commands N --customers C --concurrency K]`: how many PostgreSQL
 * statements and Redis calls does one command cost?
 *
 * Starts a gateway child process (dist/src/main.js, the log provider on every channel) against a
 * PostgreSQL database and a Redis server of its own, so no other test's traffic is counted:
 * CREATE DATABASE on the server at DATABASE_URL (dropped afterwards), and a `redis-server` child
 * on a free port. Between the two, a counting TCP proxy reads what the gateway sends:
 * PostgreSQL protocol messages (every Query and Execute is a statement; every Query and Sync ends
 * a round trip) and Redis writes (each chunk the client flushes is one round trip). Publishes N
 * valid commands over C customers, waits for N receipts, and prints, for that window:
 * statements, round trips and transactions (BEGIN) per command from the proxy; xact_commit and
 * tup_inserted per command from pg_stat_database (read after the gateway stopped, from the
 * publish on); Redis commands per command from INFO commandstats. Timers (heartbeats, relay and
 * scheduler polls) run in the window too: a longer run spreads them thinner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import Redis from 'ioredis';
import {
  createKafkaClient,
  ensureTopics,
  KafkaPublisher,
  type Kafka,
  type KafkaLogger,
} from '../libs/kafka/src';
import { BROKERS, freePort, ROOT, sleep, startGateway, waitUntil } from './lib/bench-support';
import { buildWorkload } from './lib/workload';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PUBLISH_CHUNK = 500;
const PARTITIONS = 3;

interface Options {
  readonly commands: number;
  readonly customers: number;
  readonly concurrency: number;
  readonly timeoutSeconds: number;
}

const quietLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: round-trips [--commands N (5000)] [--customers C (500)] [--concurrency K (256)] [--timeout-s 300]`,
  );
  process.exit(64);
}

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i]!;
    if (flag.startsWith('--') && argv[i + 1] !== undefined) values.set(flag, argv[++i]!);
    else usage(`unknown argument ${flag}`);
  }
  const whole = (flag: string, fallback: number, min: number): number => {
    const raw = values.get(flag);
    values.delete(flag);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min) usage(`${flag} must be a whole number ≥ ${min}`);
    return Number(raw);
  };
  const options = {
    commands: whole('--commands', 5000, 1),
    customers: whole('--customers', 500, 1),
    concurrency: whole('--concurrency', 256, 1),
    timeoutSeconds: whole('--timeout-s', 300, 10),
  };
  if (values.size > 0) usage(`unknown flag ${[...values.keys()].join(', ')}`);
  return options;
}

/** What a counting proxy saw the client send. */
interface Counts {
  /** Chunks the client flushed: one per round trip, give or take a split segment. */
  writes: number;
  /** PostgreSQL only: Query + Execute messages. */
  statements: number;
  /** PostgreSQL only: Query + Sync messages (each waits for its answer). */
  roundTrips: number;
  /** PostgreSQL only: BEGIN sent as a simple query. */
  transactions: number;
  /** PostgreSQL only: statements by the start of their text (whitespace folded). */
  byStatement: Map<string, number>;
}

/** What names a statement in the breakdown: its first words, which say what it does to which table. */
function statementLabel(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 70);
}

/**
 * A TCP proxy that counts what clients send to `target`. With `postgres`, it follows the frontend
 * protocol: the first message of a connection has no type byte, every later one is a type byte
 * and a length.
 */
async function countingProxy(
  target: { host: string; port: number },
  postgres: boolean,
): Promise<{ server: Server; port: number; counts: Counts }> {
  const counts: Counts = {
    writes: 0,
    statements: 0,
    roundTrips: 0,
    transactions: 0,
    byStatement: new Map(),
  };
  const countStatement = (text: string) => {
    const label = statementLabel(text);
    counts.byStatement.set(label, (counts.byStatement.get(label) ?? 0) + 1);
  };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let started = false;
    let pending = Buffer.alloc(0);
    // The extended protocol names the text in Parse; the Execute that follows runs it.
    let parsed = '';
    client.on('data', (chunk: Buffer) => {
      counts.writes += 1;
      upstream.write(chunk);
      if (!postgres) return;
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          // SSLRequest / GSSENCRequest (8 bytes) come before the real startup message.
          const code = pending.readInt32BE(4);
          if (!(length === 8 && (code === 80877103 || code === 80877104))) started = true;
          pending = pending.subarray(length);
          continue;
        }
        if (pending.length < 5) break;
        const type = String.fromCharCode(pending[0]!);
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        if (type === 'Q') {
          counts.statements += 1;
          counts.roundTrips += 1;
          const text = pending.subarray(5, 1 + length).toString('utf8');
          if (/^\s*begin/i.test(text)) counts.transactions += 1;
          countStatement(text);
        } else if (type === 'P') {
          const body = pending.subarray(5, 1 + length);
          const nameEnd = body.indexOf(0);
          parsed = body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString('utf8');
        } else if (type === 'E') {
          counts.statements += 1;
          countStatement(parsed);
        } else if (type === 'S') counts.roundTrips += 1;
        pending = pending.subarray(1 + length);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  const port = await new Promise<number>((resolvePort) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolvePort(typeof address === 'object' && address ? address.port : 0);
    }),
  );
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return { server, port, counts };
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  await waitUntil(`redis-server on port ${port}`, 10000, async () => {
    try {
      if (probe.status !== 'ready') await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    }
  });
  probe.disconnect();
  return child;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 40000);
  await exited;
  clearTimeout(timer);
}

async function databaseCounters(
  url: string,
  database: string,
): Promise<{ xactCommit: number; tupInserted: number; tupUpdated: number }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, string>>(
      'SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = $1',
      [database],
    );
    return {
      xactCommit: Number(rows[0]?.xact_commit ?? 0),
      tupInserted: Number(rows[0]?.tup_inserted ?? 0),
      tupUpdated: Number(rows[0]?.tup_updated ?? 0),
    };
  } finally {
    await client.end();
  }
}

async function redisCommandStats(port: number): Promise<Map<string, number>> {
  const client = new Redis(port, '127.0.0.1');
  try {
    const info = await client.info('commandstats');
    const stats = new Map<string, number>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      stats.set(match[1]!, Number(match[2]));
    }
    return stats;
  } finally {
    client.disconnect();
  }
}

async function receiptCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runId = randomUUID().slice(0, 8);
  const database = `omnigate_rt_${runId}`;
  const topics = {
    send: `rt-${runId}-send`,
    receipts: `rt-${runId}-receipts`,
    deadLetter: `rt-${runId}-dead-letter`,
    profiles: `rt-${runId}-profiles`,
    providerEvents: `rt-${runId}-provider-events`,
    cancel: `rt-${runId}-cancel`,
  };
  const databaseUrl = new URL(DATABASE_URL);
  const admin = new Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  const kafka = createKafkaClient(
    { clientId: 'omnigate-round-trips', brokers: BROKERS },
    quietLogger,
  );
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  const pgProxy = await countingProxy(
    { host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) },
    true,
  );
  const redisProxy = await countingProxy({ host: '127.0.0.1', port: redisPort }, false);
  let gateway: ChildProcess | undefined;
  try {
    await ensureTopics(
      kafka,
      Object.values(topics).map((topic) => ({
        topic,
        partitions: PARTITIONS,
        replicationFactor: 1,
      })),
    );
    const proxiedUrl = new URL(DATABASE_URL);
    proxiedUrl.host = `127.0.0.1:${pgProxy.port}`;
    proxiedUrl.pathname = `/${database}`;
    const httpPort = await freePort();
    gateway = await startGateway(
      {
        PATH: process.env.PATH,
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_GROUP_ID: `rt-${runId}`,
        KAFKA_PROFILES_GROUP_ID: `rt-${runId}-profiles`,
        KAFKA_PROVIDER_EVENTS_GROUP_ID: `rt-${runId}-provider-events`,
        TOPIC_SEND: topics.send,
        TOPIC_RECEIPTS: topics.receipts,
        TOPIC_DEAD_LETTER: topics.deadLetter,
        TOPIC_PROFILES: topics.profiles,
        TOPIC_PROVIDER_EVENTS: topics.providerEvents,
        TOPIC_CANCEL: topics.cancel,
        DATABASE_URL: proxiedUrl.toString(),
        REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
        CONSUMER_CONCURRENCY: String(options.concurrency),
        MESSAGE_LOG_KEY: randomBytes(32).toString('base64'),
        TEMPLATES_DIR: join(ROOT, 'templates'),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        LOG_LEVEL: 'warn',
        PROVIDERS_SMS: 'log',
        PROVIDERS_EMAIL: 'log',
        PROVIDERS_WHATSAPP: 'log',
        PROVIDERS_WEBPUSH: 'log',
        PROVIDERS_MOBILEPUSH: 'log',
        SPEND_GUARD_NUMBER_PER_MINUTE: '0',
        SPEND_GUARD_NUMBER_PER_HOUR: '0',
        ...Object.fromEntries(
          Object.entries(process.env).filter(([name]) => name.startsWith('STORAGE_BATCH')),
        ),
      },
      `round-trips-${runId}`,
    );
    const workload = buildWorkload({
      commands: options.commands,
      customers: options.customers,
      malformed: 0,
      runId,
      maxCommandBytes: 16384,
    });
    const pgBefore = { ...pgProxy.counts, byStatement: new Map(pgProxy.counts.byStatement) };
    const redisWritesBefore = redisProxy.counts.writes;
    const dbBefore = await databaseCounters(DATABASE_URL, database);
    const redisBefore = await redisCommandStats(redisPort);
    const started = performance.now();
    const publisher = new KafkaPublisher(kafka, quietLogger);
    await publisher.connect();
    for (let i = 0; i < workload.length; i += PUBLISH_CHUNK) {
      await publisher.publish(
        topics.send,
        workload.slice(i, i + PUBLISH_CHUNK).map(({ key, value }) => ({ key, value })),
      );
    }
    await publisher.disconnect();
    await waitUntil(`${options.commands} receipts`, options.timeoutSeconds * 1000, async () => {
      return (await receiptCount(kafka, topics.receipts)) >= options.commands;
    });
    const seconds = (performance.now() - started) / 1000;
    const pg = {
      statements: pgProxy.counts.statements - pgBefore.statements,
      roundTrips: pgProxy.counts.roundTrips - pgBefore.roundTrips,
      transactions: pgProxy.counts.transactions - pgBefore.transactions,
    };
    const redisWrites = redisProxy.counts.writes - redisWritesBefore;
    const redisAfter = await redisCommandStats(redisPort);
    await stopChild(gateway);
    gateway = undefined;
    // Closed connections have flushed their statistics.
    await sleep(1500);
    const dbAfter = await databaseCounters(DATABASE_URL, database);
    const per = (value: number) => (value / options.commands).toFixed(2);
    console.log(
      `${options.commands} commands over ${options.customers} customers, CONSUMER_CONCURRENCY=${options.concurrency}, ${Math.round(options.commands / seconds)} commands/s`,
    );
    console.log(
      `PostgreSQL (proxy): ${per(pg.statements)} statements, ${per(pg.roundTrips)} round trips, ${per(pg.transactions)} transactions per command`,
    );
    console.log(
      `PostgreSQL (pg_stat_database, until the gateway stopped): ${per(dbAfter.xactCommit - dbBefore.xactCommit)} xact_commit, ${per(dbAfter.tupInserted - dbBefore.tupInserted)} tup_inserted, ${per(dbAfter.tupUpdated - dbBefore.tupUpdated)} tup_updated per command`,
    );
    const byStatement = [...pgProxy.counts.byStatement]
      .map(([label, count]) => [label, count - (pgBefore.byStatement.get(label) ?? 0)] as const)
      .filter(([, count]) => count > 0)
      .sort((a, b) => b[1] - a[1]);
    console.log('PostgreSQL statements per command, by statement (proxy):');
    for (const [label, count] of byStatement.slice(0, 15)) {
      console.log(`  ${per(count).padStart(6)}  ${label}`);
    }
    const redisCalls = [...redisAfter]
      .map(([name, calls]) => [name, calls - (redisBefore.get(name) ?? 0)] as const)
      .filter(([name, calls]) => calls > 0 && name !== 'info');
    const totalCalls = redisCalls.reduce((sum, [, calls]) => sum + calls, 0);
    console.log(
      `Redis: ${per(redisWrites)} round trips, ${per(totalCalls)} commands per command (${redisCalls
        .map(([name, calls]) => `${name} ${per(calls)}`)
        .join(', ')})`,
    );
  } finally {
    if (gateway) await stopChild(gateway);
    pgProxy.server.close();
    redisProxy.server.close();
    await stopChild(redis);
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await kafkaAdmin.disconnect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
