/**
 * What the benchmarks share: the gateway as a child process on topics of its own, pointed at the
 * provider sandbox; its CPU and memory read from /proc; publishing, waiting and cleaning up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import {
  ensureTopics,
  fetchCommittedOffsets,
  type Kafka,
  type KafkaLogger,
  type KafkaPublisher,
  type OutboundRecord,
} from '../../libs/kafka/src';
import type { SandboxSuite } from '../../libs/sandbox/src';
import { IMAGE_NODE_OPTIONS } from './gateway-node-options';
import { clockTicksPerSecond, parseProcessStat } from './machine-cpu';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const OUTPUT_DIR = join(ROOT, 'test-output');
export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const PUBLISH_CHUNK = 500;
export const PARTITIONS = 3;

// The client retries what it can (a leader moving after topic creation, say); what it cannot
// surfaces as an error thrown to the script, so its own log lines would only be noise here.
export const quietLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function waitUntil(
  what: string,
  timeoutMs: number,
  ready: () => Promise<boolean> | boolean,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function publishInChunks(
  publisher: KafkaPublisher,
  topic: string,
  records: readonly OutboundRecord[],
): Promise<void> {
  for (let i = 0; i < records.length; i += PUBLISH_CHUNK) {
    await publisher.publish(topic, records.slice(i, i + PUBLISH_CHUNK));
  }
}

export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, o.high]));
  } finally {
    await admin.disconnect();
  }
}

/** Waits until a consumer group has committed everything now on the topic (profiles stored). */
export async function waitForGroupToCatchUp(
  kafka: Kafka,
  groupId: string,
  topic: string,
  what: string,
): Promise<void> {
  const end = await endOffsets(kafka, topic);
  await waitUntil(what, 120000, async () => {
    const committed = await fetchCommittedOffsets(kafka, groupId, topic);
    // An empty partition has nothing to commit (-1).
    return [...end].every(
      ([p, offset]) => offset === '0' || BigInt(committed.get(p) ?? '-1') >= BigInt(offset),
    );
  });
}

export type GatewayTopics = Record<
  'send' | 'priority' | 'receipts' | 'deadLetter' | 'profiles' | 'providerEvents' | 'cancel',
  string
>;

/** The gateway's six topics under one prefix, created with the profiles topic compacted. */
export async function createGatewayTopics(kafka: Kafka, base: string): Promise<GatewayTopics> {
  const topics = {
    send: `${base}.send`,
    priority: `${base}.priority`,
    receipts: `${base}.receipts`,
    deadLetter: `${base}.dlq`,
    profiles: `${base}.profiles`,
    providerEvents: `${base}.provider-events`,
    cancel: `${base}.cancel`,
  };
  const { profiles, ...plain } = topics;
  await ensureTopics(kafka, [
    ...Object.values(plain).map((topic) => ({
      topic,
      partitions: PARTITIONS,
      replicationFactor: 1,
    })),
    {
      topic: profiles,
      partitions: PARTITIONS,
      replicationFactor: 1,
      config: { 'cleanup.policy': 'compact' },
    },
  ]);
  return topics;
}

export interface GatewaySetup {
  readonly sandbox: SandboxSuite;
  readonly topics: GatewayTopics;
  readonly groupPrefix: string;
  readonly port: number;
  readonly databaseSchema: string | undefined;
  /** Set last, over the caller's environment (storage, cap rules and such). */
  readonly extra?: Readonly<Record<string, string>>;
}

export function gatewayEnvironment(setup: GatewaySetup): NodeJS.ProcessEnv {
  const { sandbox, topics, groupPrefix, port, databaseSchema } = setup;
  return {
    // In-process stores for whichever of DATABASE_URL and REDIS_URL the caller leaves unset.
    STORAGE: 'embedded',
    // Then the pass-through: PATH, DATABASE_URL, REDIS_URL, CONSUMER_CONCURRENCY and such.
    ...process.env,
    // Node's own options for the gateway alone, not for this script: the image's unless given.
    NODE_OPTIONS: process.env.GATEWAY_NODE_OPTIONS ?? IMAGE_NODE_OPTIONS,
    KAFKA_BROKERS: BROKERS.join(','),
    KAFKA_CREATE_TOPICS: 'false',
    TOPIC_SEND: topics.send,
    TOPIC_SEND_PRIORITY: topics.priority,
    TOPIC_RECEIPTS: topics.receipts,
    TOPIC_DEAD_LETTER: topics.deadLetter,
    TOPIC_PROFILES: topics.profiles,
    TOPIC_PROVIDER_EVENTS: topics.providerEvents,
    TOPIC_CANCEL: topics.cancel,
    KAFKA_GROUP_ID: `${groupPrefix}-send`,
    KAFKA_PRIORITY_GROUP_ID: `${groupPrefix}-priority`,
    KAFKA_PROFILES_GROUP_ID: `${groupPrefix}-profiles`,
    KAFKA_PROVIDER_EVENTS_GROUP_ID: `${groupPrefix}-provider-events`,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    TEMPLATES_DIR: join(ROOT, 'templates'),
    ...(databaseSchema ? { DATABASE_SCHEMA: databaseSchema } : {}),
    // The bench's database lives no longer than the run, so a fresh key per run will do.
    MESSAGE_LOG_KEY: process.env.MESSAGE_LOG_KEY ?? randomBytes(32).toString('base64'),
    // The spend guard counts per number and country, not per customer: in a shared Redis the
    // run's sends must neither use up nor be refused by the budgets of other runs and tests.
    SPEND_GUARD_KEY_PREFIX: `${groupPrefix}:`,
    ...sandbox.gatewayEnvironment(),
    ...setup.extra,
  };
}

/** Starts dist/src/main.js (node flags such as --cpu-prof first) and waits until it is ready. */
export async function startGateway(
  env: NodeJS.ProcessEnv,
  logName: string,
  nodeFlags: readonly string[] = [],
): Promise<ChildProcess> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const log = createWriteStream(join(OUTPUT_DIR, `${logName}.log`));
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      ...nodeFlags,
      join(ROOT, 'dist', 'src', 'main.js'),
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Two sources into one file: neither may end it, or the other's last lines (a refused node
  // flag, say) would be written after the end and crash this script instead of being logged.
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  child.once('close', () => log.end());
  // The last words of a gateway that dies while starting (a refused flag or setting) go into
  // the error, not only the log.
  let stderrTail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
  });
  // If this script dies (an uncaught error), the gateway must not live on and take the CPU from
  // the next run.
  const killOnExit = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const port = env.HTTP_PORT!;
  await waitUntil(
    `the gateway on port ${port} (see test-output/${logName}.log)`,
    60000,
    async () => {
      if (child.exitCode !== null) {
        const lastLine = stderrTail.trim().split('\n').at(-1);
        throw new Error(
          `the gateway exited with ${child.exitCode}${lastLine ? ` (${lastLine})` : ''}; ` +
            `see test-output/${logName}.log`,
        );
      }
      try {
        return (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok;
      } catch {
        return false;
      }
    },
  );
  return child;
}

export async function stopGateway(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 40000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export interface ProcessUsage {
  readonly at: number;
  /** utime + stime, in seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** The peak resident set so far (VmHWM). */
  readonly peakRssBytes: number;
}

/** CPU time and resident memory of a Linux process, from /proc (undefined once it has gone). */
export function readProcessUsage(pid: number, ticksPerSecond: number): ProcessUsage | undefined {
  try {
    const stat = parseProcessStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (!stat) return undefined;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return {
      at: performance.now(),
      cpuSeconds: stat.ticks / ticksPerSecond,
      rssBytes: kb('VmRSS') * 1024,
      peakRssBytes: kb('VmHWM') * 1024,
    };
  } catch {
    // the process has exited
    return undefined;
  }
}

/** Samples a process's usage on a timer. */
export class ProcessSampler {
  readonly samples: ProcessUsage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ticksPerSecond = clockTicksPerSecond();

  constructor(private readonly pid: number) {}

  start(everyMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Takes a last sample; later calls do nothing, so the window ends at the first stop. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** A reading now, also kept as a sample. */
  sample(): ProcessUsage | undefined {
    const usage = readProcessUsage(this.pid, this.ticksPerSecond);
    if (usage) this.samples.push(usage);
    return usage;
  }
}

/** Removes a run's topics and database schema. */
export async function cleanUp(
  kafka: Kafka,
  topics: readonly string[],
  databaseUrl: string | undefined,
  databaseSchema: string | undefined,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (topics.length > 0) await admin.deleteTopics({ topics: [...topics] });
  } catch (error) {
    console.error(`could not delete the run's topics: ${String(error)}`);
  } finally {
    await admin.disconnect();
  }
  if (!databaseUrl || !databaseSchema) return;
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${databaseSchema}" CASCADE`);
  } finally {
    await client.end();
  }
}
