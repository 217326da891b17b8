/**
 * `npm run bench [-- --quick] [--load PER_SECOND] [--warmup COMMANDS] [--json FILE] [--cpu-prof DIR] [--keep]`: the
 * gateway against the ceiling, on one broker, in one run.
 *
 * - gateway: the built service as a child process on PostgreSQL (a schema of its own) and Redis,
 *   sandbox providers answering in a fixed 50 ms, a cap rules file whose caps bite. Customer
 *   profiles go to the profiles topic first, then unmeasured warm-up commands (V8 compiles the
 *   hot code of a fresh process while they run). Then three phases on the same gateway:
 *   throughput (N mixed commands published at once: commands/s from the first publish to the last
 *   answer), latency (1,000 commands/s, or --load, offered for S seconds: publish→receipt
 *   percentiles) and the OTP lane (100 OTPs on the priority topic behind a backlog on the send
 *   topic: their p99).
 *   Its cost during the throughput phase: CPU from /proc, PostgreSQL from the server's counters,
 *   Redis from MONITOR (its own connections) and INFO commandstats.
 * - ceiling: an ideal pipeline in this script with plain kafkajs: eachBatch, one HTTP call per
 *   record (keep-alive) to a local server answering in the same 50 ms (on a thread of its own, as
 *   the gateway's providers are in another process than the gateway), one send of receipts per
 *   batch, commit. No policy, no storage. The same command records; receipts of the gateway's
 *   mean receipt size. Warmed up like the gateway, then three measured passes: the median counts.
 *
 * A command is answered by its first receipt that settles what the gateway does with it: any
 * status but accepted, deferred and unknown (the sandbox reports no delivery, so `sent` is the
 * end of the gateway's work here). Lost: no such receipt; answered twice: two such receipts with
 * different event ids.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ReceiptStatus } from '../libs/contracts/src';
import {
  createKafkaClient,
  ensureTopics,
  KafkaPublisher,
  type Kafka,
  type OutboundRecord,
} from '../libs/kafka/src';
import { SandboxSuite } from '../libs/sandbox/src';
import {
  BROKERS,
  cleanUp,
  createGatewayTopics,
  freePort,
  gatewayEnvironment,
  OUTPUT_DIR,
  PARTITIONS,
  percentile,
  ProcessSampler,
  publishInChunks,
  quietLogger,
  sleep,
  startGateway,
  stopGateway,
  waitForGroupToCatchUp,
  type GatewayTopics,
  type ProcessUsage,
} from './lib/bench-support';
import { closeAfterFailure, closeEach } from './lib/close-each';
import { startLatencyServer } from './lib/latency-server';
import { parseHistogram, quantileBetween, type HistogramReading } from './lib/prometheus-histogram';
import {
  clockTicksPerSecond,
  CPU_ROLES,
  readMachineCpu,
  readMainThreadSchedule,
  readThreadTicks,
  scheduleSharesBetween,
  splitBetween,
  THREAD_KINDS,
  threadSplitBetween,
  type ThreadKind,
  type RolePids,
  type ScheduleShares,
  type CpuSplit,
  type MachineCpuReading,
} from './lib/machine-cpu';
import {
  createOwnDatabase,
  dropOwnDatabase,
  PostgresCounters,
  RedisCallCounter,
  type PostgresReading,
} from './lib/storage-counters';
import {
  hasMixedProfile,
  mixedCommand,
  mixedProfile,
  otpSmsCommand,
  type WebPushSubscriptionFactory,
} from './lib/workload';

const PROVIDER_LATENCY_MS = 50;
/** The latency phase's offered load: the issue's 1,000 commands/s unless --load says otherwise. */
const DEFAULT_LOAD_PER_SECOND = 1000;
const COMMANDS_PER_CUSTOMER = 5;
/** Server counters are flushed about once a second: wait this long before reading them. */
const COUNTER_SETTLE_MS = 1500;
/** Caps that bite at five commands a customer (the built-in ones allow six marketing a day). */
const CAP_RULES = [
  {
    id: 'bench-marketing-daily',
    scope: { category: 'marketing' },
    windowSeconds: 86400,
    limit: 1,
    overCap: 'cap',
  },
  {
    id: 'bench-mobilepush-hourly',
    scope: { channel: 'mobilepush' },
    windowSeconds: 3600,
    limit: 1,
    overCap: 'next_channel',
  },
  { id: 'bench-customer-hourly', scope: {}, windowSeconds: 3600, limit: 4, overCap: 'cap' },
];
/** Statuses after which the gateway still has work or news to come for the command. */
const UNSETTLED: ReadonlySet<ReceiptStatus> = new Set(['accepted', 'deferred', 'unknown']);

interface Options {
  readonly quick: boolean;
  readonly commands: number;
  readonly customers: number;
  readonly loadPerSecond: number;
  readonly loadSeconds: number;
  readonly backlog: number;
  /** Commands through the gateway before the throughput phase, so that V8 has compiled its hot code. */
  readonly warmup: number;
  readonly otp: number;
  readonly idleTimeoutSeconds: number;
  readonly json: string | undefined;
  readonly cpuProfDir: string | undefined;
  readonly keep: boolean;
}

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: bench [--quick] [--load PER_SECOND] [--warmup COMMANDS] [--json FILE] [--cpu-prof DIR] [--keep]`,
  );
  process.exit(64);
}

function positiveInteger(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    usage(`${flag} needs a whole number above 0, got ${raw}`);
  return value;
}

function parseOptions(argv: readonly string[]): Options {
  let quick = false;
  let keep = false;
  let json: string | undefined;
  let cpuProfDir: string | undefined;
  let loadPerSecond = DEFAULT_LOAD_PER_SECOND;
  let warmup: number | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i]!;
    if (flag === '--quick') quick = true;
    else if (flag === '--keep') keep = true;
    else if (flag === '--warmup' && argv[i + 1] !== undefined) {
      const raw = argv[++i]!;
      // 0 measures a cold gateway
      warmup = raw === '0' ? 0 : positiveInteger(flag, raw);
    } else if (flag === '--json' && argv[i + 1]) json = resolve(argv[++i]!);
    else if (flag === '--cpu-prof' && argv[i + 1]) cpuProfDir = resolve(argv[++i]!);
    else if (flag === '--load' && argv[i + 1]) loadPerSecond = positiveInteger(flag, argv[++i]!);
    else usage(`unknown argument ${flag}`);
  }
  const size = quick
    ? { commands: 5000, customers: 1000, loadSeconds: 10, backlog: 5000, warmup: 5000 }
    : { commands: 50000, customers: 10000, loadSeconds: 30, backlog: 20000, warmup: 10000 };
  return {
    quick,
    ...size,
    ...(warmup === undefined ? {} : { warmup }),
    loadPerSecond,
    otp: 100,
    idleTimeoutSeconds: 120,
    json,
    cpuProfDir,
    keep,
  };
}

interface Command extends OutboundRecord {
  readonly key: string;
  readonly value: string;
  readonly id: string;
}

/** A settled answer per command, as receipts arrive on one topic. */
class ReceiptWatcher {
  /** messageId → arrival (performance.now()) of its first settling receipt. */
  readonly answeredAt = new Map<string, number>();
  /**
   * messageId → when the gateway decided its settling status (the receipt's occurredAt, on the
   * performance.now() timeline): splits publish→receipt into the gateway's intake and processing,
   * and the outbox relay and Kafka after it. Same host, same clock.
   */
  readonly decidedAt = new Map<string, number>();
  readonly statuses = new Map<string, number>();
  /** Answered message ids in arrival order, so a wait can look at the new ones only. */
  private readonly answerOrder: string[] = [];
  receipts = 0;
  receiptBytes = 0;
  private readonly settlingEvents = new Map<string, Set<string>>();

  private constructor(private readonly stop: () => Promise<void>) {}

  static async start(kafka: Kafka, topic: string, groupId: string): Promise<ReceiptWatcher> {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
    const watcher = new ReceiptWatcher(() => consumer.disconnect());
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: PARTITIONS,
        eachBatch: async ({ batch }) => {
          const at = performance.now();
          for (const message of batch.messages) {
            if (message.value) watcher.add(message.value, at);
          }
          return Promise.resolve();
        },
      });
    } catch (error) {
      // The caller never gets the watcher to close, so its consumer is closed here.
      await closeAfterFailure(error, [() => consumer.disconnect()], 'starting a receipt reader');
    }
    return watcher;
  }

  /** Commands answered by two settling receipts with different event ids. */
  get answeredTwice(): number {
    let twice = 0;
    for (const events of this.settlingEvents.values()) if (events.size > 1) twice += 1;
    return twice;
  }

  /**
   * Resolves once every command is answered, or when none has been for idleMs (what is left is
   * lost); check() may throw to give up early (the gateway exited). Each poll looks only at the
   * answers that arrived since the last one: rescanning 50,000 commands ten times a second would
   * take CPU from the gateway being measured.
   */
  async waitFor(commands: readonly Command[], idleMs: number, check: () => void): Promise<void> {
    const pending = new Set<string>();
    for (const c of commands) if (!this.answeredAt.has(c.id)) pending.add(c.id);
    let seen = this.answerOrder.length;
    let progressAt = performance.now();
    while (pending.size > 0 && performance.now() - progressAt < idleMs) {
      check();
      await sleep(100);
      const before = pending.size;
      for (; seen < this.answerOrder.length; seen += 1) pending.delete(this.answerOrder[seen]!);
      if (pending.size < before) progressAt = performance.now();
    }
  }

  /**
   * For the answered ones of `commands`, each sorted: publish→receipt, publish→decision and
   * decision→receipt, in milliseconds.
   */
  spans(
    commands: readonly Command[],
    publishedAt: ReadonlyMap<string, number>,
  ): { ms: number[]; toDecisionMs: number[]; afterDecisionMs: number[] } {
    const answered = commands.filter((c) => this.answeredAt.has(c.id));
    const sorted = (span: (id: string) => number) =>
      answered.map((c) => span(c.id)).sort((a, b) => a - b);
    return {
      ms: sorted((id) => this.answeredAt.get(id)! - publishedAt.get(id)!),
      toDecisionMs: sorted((id) => this.decidedAt.get(id)! - publishedAt.get(id)!),
      afterDecisionMs: sorted((id) => this.answeredAt.get(id)! - this.decidedAt.get(id)!),
    };
  }

  /** Commands answered so far, of every phase. */
  get answered(): number {
    return this.answerOrder.length;
  }

  count(commands: readonly Command[]): number {
    return commands.reduce((n, c) => n + (this.answeredAt.has(c.id) ? 1 : 0), 0);
  }

  lastAnswer(commands: readonly Command[]): number {
    return commands.reduce((last, c) => Math.max(last, this.answeredAt.get(c.id) ?? 0), 0);
  }

  close(): Promise<void> {
    return this.stop();
  }

  private add(value: Buffer, at: number): void {
    const receipt = JSON.parse(value.toString('utf8')) as {
      eventId: string;
      messageId: string;
      status: ReceiptStatus;
      channel?: string;
      occurredAt: string;
    };
    this.receipts += 1;
    this.receiptBytes += value.length;
    const label = `${receipt.status}${receipt.channel ? ` (${receipt.channel})` : ''}`;
    this.statuses.set(label, (this.statuses.get(label) ?? 0) + 1);
    if (UNSETTLED.has(receipt.status)) return;
    const events = this.settlingEvents.get(receipt.messageId) ?? new Set<string>();
    events.add(receipt.eventId);
    this.settlingEvents.set(receipt.messageId, events);
    if (!this.answeredAt.has(receipt.messageId)) {
      this.answeredAt.set(receipt.messageId, at);
      this.decidedAt.set(
        receipt.messageId,
        Date.parse(receipt.occurredAt) - performance.timeOrigin,
      );
      this.answerOrder.push(receipt.messageId);
    }
  }
}

/** N mixed commands, five a customer, round-robin so a customer's commands are spread out. */
function mixedCommands(
  runId: string,
  phase: string,
  count: number,
  subscription: WebPushSubscriptionFactory,
): Command[] {
  const customers = Math.max(1, Math.ceil(count / COMMANDS_PER_CUSTOMER));
  return Array.from({ length: count }, (_, i) => {
    const customerIndex = i % customers;
    const customer = customerOf(runId, phase, customerIndex);
    const id = `bench-${runId}-${phase}-${String(i).padStart(6, '0')}`;
    const round = Math.floor(i / customers);
    const command = mixedCommand(id, customer, customerIndex, round, subscription);
    return { key: customer, value: JSON.stringify(command), id };
  });
}

// Customers of their own per run: Redis keeps the caps of earlier runs for a day.
function customerOf(runId: string, phase: string, index: number): string {
  return `bench-${runId}-${phase}-c${index}`;
}

function mixedProfiles(runId: string, phase: string, commands: number): OutboundRecord[] {
  const now = new Date();
  const customers = Math.ceil(commands / COMMANDS_PER_CUSTOMER);
  const records: OutboundRecord[] = [];
  for (let i = 0; i < customers; i += 1) {
    if (!hasMixedProfile(i)) continue;
    const customer = customerOf(runId, phase, i);
    records.push({ key: customer, value: JSON.stringify(mixedProfile(customer, i, now)) });
  }
  return records;
}

interface GatewayResult {
  readonly perSecond: number;
  readonly seconds: number;
  readonly commands: number;
  readonly lost: number;
  readonly answeredTwice: number;
  readonly latency: {
    offeredPerSecond: number;
    commands: number;
    lost: number;
    ms: number[];
    /** Publish → the gateway's decision (receipt occurredAt), and decision → receipt arrival. */
    toDecisionMs: number[];
    afterDecisionMs: number[];
    /** Of publish→decision, the wait until the gateway started on the command (its histogram). */
    waitP50Ms: number;
    waitP99Ms: number;
    /** Each batched storage operation's wait, p50 and p99 (omnigate_storage_call_seconds). */
    storageWaitMs: Record<string, { p50: number; p99: number }>;
  };
  readonly otp: {
    answered: number;
    lost: number;
    ms: number[];
    /** Publish → the gateway's decision, as for the latency phase. */
    toDecisionMs: number[];
    backlogLost: number;
    /** Until the gateway started on the OTP (its priority-lane histogram). */
    waitP50Ms: number;
    waitP99Ms: number;
  };
  readonly cpuSeconds: number;
  /**
   * PostgreSQL's CPU (every process of the server) over the same window as cpuSeconds: the
   * throughput phase and the tail the gateway settles after its last answer.
   */
  readonly postgresCpuSeconds: number;
  readonly wallSeconds: number;
  readonly rssPeakBytes: number;
  /** Where the machine's CPUs went during the throughput phase. */
  readonly cpuSplit: CpuSplit;
  /** The gateway's JavaScript thread over the throughput phase, when the kernel keeps schedstat. */
  readonly mainThread: ScheduleShares | undefined;
  /** Cores each kind of the gateway's threads used over the throughput phase. */
  readonly threadCores: Readonly<Record<ThreadKind, number>> | undefined;
  readonly postgres: { source: string; before: PostgresReading; after: PostgresReading };
  /** Counted over the backlog commands answered after the OTPs (none: calls per command NaN). */
  readonly redis: {
    calls: number;
    serverWide: number;
    serverWideReads: number;
    commands: number;
    monitorFailure: string | undefined;
  };
  readonly meanReceiptBytes: number;
  readonly statuses: ReadonlyMap<string, number>;
}

interface Context {
  readonly options: Options;
  readonly runId: string;
  readonly kafka: Kafka;
  readonly publisher: KafkaPublisher;
  readonly sandbox: SandboxSuite;
  /** The gateway's database: one of the run's own when the role may create it. */
  readonly databaseUrl: string;
  /** The database DATABASE_URL names, shared with other work. */
  readonly sharedDatabaseUrl: string;
  readonly redisUrl: string;
  readonly databaseSchema: string;
  readonly createdTopics: string[];
}

async function runGateway(
  ctx: Context,
  redis: RedisCallCounter,
  throughput: readonly Command[],
  warmup: readonly Command[],
  subscription: WebPushSubscriptionFactory,
): Promise<GatewayResult> {
  const { options, runId, kafka, publisher, sandbox } = ctx;
  const base = `bench.${runId}.gateway`;
  const topics = await createGatewayTopics(kafka, base);
  ctx.createdTopics.push(...Object.values(topics));
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const capRulesFile = join(OUTPUT_DIR, `bench-cap-rules-${runId}.json`);
  writeFileSync(capRulesFile, JSON.stringify(CAP_RULES, null, 2));
  const env = gatewayEnvironment({
    sandbox,
    topics,
    groupPrefix: `${base}.gateway`,
    port: await freePort(),
    databaseSchema: ctx.databaseSchema,
    extra: {
      STORAGE: 'external',
      DATABASE_URL: ctx.databaseUrl,
      REDIS_URL: ctx.redisUrl,
      CAP_RULES_FILE: capRulesFile,
    },
  });

  const load = mixedCommands(
    runId,
    'load',
    options.loadPerSecond * options.loadSeconds,
    subscription,
  );
  const backlog = mixedCommands(runId, 'backlog', options.backlog, subscription);
  const otp = Array.from({ length: options.otp }, (_, i): Command => {
    const id = `bench-${runId}-otp-${String(i).padStart(4, '0')}`;
    const customer = `bench-${runId}-otp-c${i}`;
    return { key: customer, value: JSON.stringify(otpSmsCommand(id, customer, i)), id };
  });

  const watcher = await ReceiptWatcher.start(kafka, topics.receipts, `${base}.reader`);
  const flags = ctx.options.cpuProfDir
    ? ['--cpu-prof', '--cpu-prof-dir', ctx.options.cpuProfDir]
    : [];
  // Connected before the gateway starts: should it fail, no gateway process is left running.
  let postgres: PostgresCounters | undefined;
  let gateway: ChildProcess;
  try {
    postgres = await PostgresCounters.connect(ctx.databaseUrl, ctx.databaseSchema);
    gateway = await startGateway(env, 'bench-gateway', flags);
  } catch (error) {
    return closeAfterFailure(
      error,
      [() => postgres?.close(), () => watcher.close()],
      'starting the gateway',
    );
  }
  const sampler = new ProcessSampler(gateway.pid!);
  const alive = () => {
    if (gateway.exitCode !== null)
      throw new Error(
        `the gateway exited with ${gateway.exitCode}; see test-output/bench-gateway.log`,
      );
  };
  const idleMs = options.idleTimeoutSeconds * 1000;
  try {
    const profiles = [
      ...mixedProfiles(runId, 'tp', throughput.length),
      ...mixedProfiles(runId, 'load', load.length),
      ...mixedProfiles(runId, 'backlog', backlog.length),
      ...mixedProfiles(runId, 'warmup', warmup.length),
    ];
    console.log(`  ${profiles.length} customer profiles to the profiles topic`);
    await publishInChunks(publisher, topics.profiles, profiles);
    await waitForGroupToCatchUp(
      kafka,
      env.KAFKA_PROFILES_GROUP_ID!,
      topics.profiles,
      'the gateway to store the profiles',
    );
    // A fresh gateway spends its first thousands of commands compiling: through a cold quick
    // throughput phase V8 compiled 1,216 functions in 1.4 s (--trace-opt), a start-up cost that a
    // replica running for hours has long paid. It is left out of every figure.
    if (warmup.length > 0) {
      console.log(`  warm-up: ${warmup.length} commands, not measured`);
      await publishInChunks(publisher, topics.send, warmup);
      await watcher.waitFor(warmup, idleMs, alive);
    }
    sampler.start(500);

    // Throughput: everything at once; the clock runs from the first publish to the last answer.
    console.log(`  throughput: ${throughput.length} commands`);
    const pgBefore = await postgres.read();
    const usageBefore = sampler.sample()!;
    const machineBefore = readMachineCpu();
    const mainThreadBefore = readMainThreadSchedule(gateway.pid!);
    const threadsBefore = readThreadTicks(gateway.pid!);
    const startedAt = performance.now();
    await publishInChunks(publisher, topics.send, throughput);
    await watcher.waitFor(throughput, idleMs, alive);
    const answered = watcher.count(throughput);
    const seconds = (watcher.lastAnswer(throughput) - startedAt) / 1000;
    // The machine's split over the phase itself; the gateway's own CPU also counts the work it
    // finishes after the last answer (the outbox relay, settling the tail).
    const machineAfter = readMachineCpu();
    const mainThreadAfter = readMainThreadSchedule(gateway.pid!);
    const threadsAfter = readThreadTicks(gateway.pid!);
    await sleep(COUNTER_SETTLE_MS);
    const usageAfter = sampler.sample() ?? usageBefore;
    // PostgreSQL's CPU over the gateway's own window (cpuSeconds): the phase and its tail.
    const settled = machineSplit(machineBefore, readMachineCpu(), gateway.pid!);
    const pgAfter = await postgres.read();
    const meanReceiptBytes = watcher.receiptBytes / Math.max(1, watcher.receipts);

    const waitBefore = await commandWait(env.HTTP_PORT!);
    const latency = await offeredLoad(ctx, watcher, topics, load, alive);
    // One scrape ends the latency phase and begins the OTP lane's.
    const waitAfter = await commandWait(env.HTTP_PORT!);
    // Redis round trips are counted while the rest of the backlog drains, after the OTPs are
    // answered: MONITOR costs the server and this process CPU that the gateway would otherwise
    // have, so it must not overlap a phase whose figures are reported.
    const otpResult = await otpBehindBacklog(ctx, watcher, topics, backlog, otp, alive, {
      begin: () => redis.begin(gateway.pid),
      end: () => redis.end(),
    });
    const otpWaitAfter = await commandWait(env.HTTP_PORT!);
    sampler.stop();

    return {
      perSecond: answered / seconds,
      seconds,
      commands: throughput.length,
      lost: throughput.length - answered,
      answeredTwice: watcher.answeredTwice,
      latency: {
        ...latency,
        waitP50Ms: quantileBetween(waitBefore.send, waitAfter.send, 0.5) * 1000,
        waitP99Ms: quantileBetween(waitBefore.send, waitAfter.send, 0.99) * 1000,
        storageWaitMs: Object.fromEntries(
          [...waitAfter.storage].map(([operation, after]) => {
            const before = waitBefore.storage.get(operation) ?? [];
            return [
              operation,
              {
                p50: quantileBetween(before, after, 0.5) * 1000,
                p99: quantileBetween(before, after, 0.99) * 1000,
              },
            ];
          }),
        ),
      },
      otp: {
        ...otpResult,
        waitP50Ms: quantileBetween(waitAfter.priority, otpWaitAfter.priority, 0.5) * 1000,
        waitP99Ms: quantileBetween(waitAfter.priority, otpWaitAfter.priority, 0.99) * 1000,
      },
      cpuSeconds: usageAfter.cpuSeconds - usageBefore.cpuSeconds,
      postgresCpuSeconds: settled.cores.PostgreSQL * settled.seconds,
      wallSeconds: (usageAfter.at - usageBefore.at) / 1000,
      rssPeakBytes: peakOf(sampler.samples),
      cpuSplit: machineSplit(machineBefore, machineAfter, gateway.pid!),
      mainThread:
        mainThreadBefore && mainThreadAfter
          ? scheduleSharesBetween(mainThreadBefore, mainThreadAfter)
          : undefined,
      threadCores:
        threadsBefore && threadsAfter
          ? threadSplitBetween(
              gateway.pid!,
              threadsBefore,
              threadsAfter,
              clockTicksPerSecond(),
              (machineAfter.at - machineBefore.at) / 1000,
            )
          : undefined,
      postgres: { source: postgres.source, before: pgBefore, after: pgAfter },
      redis: {
        calls: redis.processCalls,
        serverWide: redis.serverWideCalls,
        serverWideReads: redis.serverWideReads,
        commands: otpResult.countedWhileDraining,
        monitorFailure: redis.monitorFailure,
      },
      meanReceiptBytes,
      statuses: watcher.statuses,
    };
  } finally {
    sampler.stop();
    await closeEach(
      [
        () => postgres.close(),
        async () => {
          const code = await stopGateway(gateway);
          if (code !== 0) console.error(`the gateway stopped with exit code ${code}`);
        },
        () => watcher.close(),
      ],
      'stopping the gateway',
    );
  }
}

function machineSplit(
  before: MachineCpuReading,
  after: MachineCpuReading,
  gatewayPid: number,
): CpuSplit {
  const roles: RolePids = { gatewayPid, benchPid: process.pid };
  return splitBetween(before, after, roles, clockTicksPerSecond(), availableParallelism());
}

function peakOf(samples: readonly ProcessUsage[]): number {
  return samples.reduce((peak, s) => Math.max(peak, s.peakRssBytes, s.rssBytes), 0);
}

/** A scrape's waits: command waits by lane, storage waits by operation (each batcher's name). */
interface Waits {
  readonly send: HistogramReading;
  readonly priority: HistogramReading;
  readonly storage: ReadonlyMap<string, HistogramReading>;
}

/** The gateway's command and storage wait histograms as they stand (one scrape). */
async function commandWait(port: string): Promise<Waits> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lane = (name: string) =>
    parseHistogram(text, 'omnigate_command_wait_seconds', [`lane="${name}"`]);
  // The operations are whatever batchers the gateway has, in the order it made them.
  const operations = [
    ...text.matchAll(/^omnigate_storage_call_seconds_count\{operation="([a-z_]+)"\}/gm),
  ].map((match) => match[1]!);
  return {
    send: lane('send'),
    priority: lane('priority'),
    storage: new Map(
      operations.map((operation) => [
        operation,
        parseHistogram(text, 'omnigate_storage_call_seconds', [`operation="${operation}"`]),
      ]),
    ),
  };
}

/** Offers commands at a fixed rate, a slice every 20 ms, and times each to its answer. */
async function offeredLoad(
  ctx: Context,
  watcher: ReceiptWatcher,
  topics: GatewayTopics,
  load: readonly Command[],
  alive: () => void,
): Promise<Omit<GatewayResult['latency'], 'waitP50Ms' | 'waitP99Ms' | 'storageWaitMs'>> {
  const { options, publisher } = ctx;
  console.log(`  latency: ${options.loadPerSecond} commands/s for ${options.loadSeconds} s`);
  const tickMs = 20;
  const publishedAt = new Map<string, number>();
  const failures: unknown[] = [];
  const sends: Array<Promise<void>> = [];
  const startedAt = performance.now();
  let sent = 0;
  for (let tick = 0; sent < load.length; tick += 1) {
    const wait = startedAt + tick * tickMs - performance.now();
    if (wait > 0) await sleep(wait);
    // What the rate has made due by the end of this tick, so a rate that is not a whole number
    // of commands per tick is still kept (75/s: one or two a tick).
    const due = Math.min(
      load.length,
      Math.ceil(((tick + 1) * tickMs * options.loadPerSecond) / 1000),
    );
    const slice = load.slice(sent, due);
    sent = due;
    if (slice.length === 0) continue;
    const at = performance.now();
    for (const command of slice) publishedAt.set(command.id, at);
    sends.push(
      publisher.publish(topics.send, slice).catch((error: unknown) => void failures.push(error)),
    );
  }
  await Promise.all(sends);
  if (failures.length > 0) throw new Error(`publishing failed: ${String(failures[0])}`);
  const offeredPerSecond = load.length / ((performance.now() - startedAt) / 1000);
  await watcher.waitFor(load, options.idleTimeoutSeconds * 1000, alive);
  const spans = watcher.spans(load, publishedAt);
  return { offeredPerSecond, commands: load.length, lost: load.length - spans.ms.length, ...spans };
}

/** The backlog on the send topic, then OTPs on the priority topic one every 10 ms. */
async function otpBehindBacklog(
  ctx: Context,
  watcher: ReceiptWatcher,
  topics: GatewayTopics,
  backlog: readonly Command[],
  otp: readonly Command[],
  alive: () => void,
  drainWindow: { begin: () => Promise<void>; end: () => Promise<void> },
): Promise<
  Omit<GatewayResult['otp'], 'waitP50Ms' | 'waitP99Ms'> & { countedWhileDraining: number }
> {
  const { options, publisher } = ctx;
  console.log(`  OTP lane: ${otp.length} OTPs behind ${backlog.length} commands`);
  await publishInChunks(publisher, topics.send, backlog);
  const publishedAt = new Map<string, number>();
  for (const command of otp) {
    const before = performance.now();
    publishedAt.set(command.id, before);
    await publisher.publish(topics.priority, [command]);
    const left = 10 - (performance.now() - before);
    if (left > 0) await sleep(left);
  }
  const idleMs = options.idleTimeoutSeconds * 1000;
  await watcher.waitFor(otp, idleMs, alive);
  const { ms, toDecisionMs } = watcher.spans(otp, publishedAt);
  // The backlog is drained too, so that every command of the run is accounted for; the
  // window counts what is answered meanwhile.
  await drainWindow.begin();
  const answeredBefore = watcher.answered;
  await watcher.waitFor(backlog, idleMs, alive);
  const countedWhileDraining = watcher.answered - answeredBefore;
  await drainWindow.end();
  return {
    countedWhileDraining,
    answered: ms.length,
    lost: otp.length - ms.length,
    ms,
    toDecisionMs,
    backlogLost: backlog.length - watcher.count(backlog),
  };
}

interface CeilingResult {
  /** The median pass's: one short pass here swings by a factor of two (a pause, a slow second). */
  readonly perSecond: number;
  /** Every measured pass's, in the order they ran. */
  readonly passesPerSecond: readonly number[];
  readonly seconds: number;
  /** Over every pass. */
  readonly lost: number;
  readonly meanReceiptBytes: number;
  /** Other clients of the shared servers meanwhile (the ceiling uses neither). */
  readonly backgroundPgPerSecond: number;
  readonly backgroundRedisPerSecond: number;
  readonly cpuSplit: CpuSplit;
}

function post(agent: Agent, url: URL, body: Buffer): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Measured passes of the ceiling; the figure is their median. */
const CEILING_PASSES = 3;

interface CeilingPass {
  readonly perSecond: number;
  readonly seconds: number;
  readonly lost: number;
  readonly cpuSplit: CpuSplit;
}

/**
 * The ideal pipeline over the same command records, with receipts of the given size: a warm-up
 * pass, then CEILING_PASSES measured passes over the same records, each by a consumer group of
 * its own into a receipts topic of its own.
 */
async function runCeiling(
  ctx: Context,
  commands: readonly Command[],
  warmup: readonly Command[],
  receiptSize: number,
  redis: RedisCallCounter,
): Promise<CeilingResult> {
  const { kafka, publisher, runId } = ctx;
  const base = `bench.${runId}.ceiling`;
  const input = `${base}.commands`;
  const warmupInput = `${base}.warmup`;
  const outputs = Array.from(
    { length: CEILING_PASSES + 1 },
    (_, pass) => `${base}.receipts.${pass}`,
  );
  await ensureTopics(
    kafka,
    [input, warmupInput, ...outputs].map((topic) => ({
      topic,
      partitions: PARTITIONS,
      replicationFactor: 1,
    })),
  );
  ctx.createdTopics.push(input, warmupInput, ...outputs);
  const server = await startLatencyServer(PROVIDER_LATENCY_MS);
  const { url } = server;
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const postgres = await PostgresCounters.connect(ctx.sharedDatabaseUrl, ctx.databaseSchema);
  const idleMs = ctx.options.idleTimeoutSeconds * 1000;
  let receiptBytes = 0;
  let receiptCount = 0;
  /** One pass: pass 0 is the warm-up (unmeasured), over its own records. */
  const runPass = async (pass: number, records: readonly Command[]): Promise<CeilingPass> => {
    const output = outputs[pass]!;
    const watcher = await ReceiptWatcher.start(kafka, output, `${base}.reader.${pass}`);
    const consumer = kafka.consumer({ groupId: `${base}.pipeline.${pass}` });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: pass === 0 ? warmupInput : input, fromBeginning: true });
      const machineBefore = readMachineCpu();
      const startedAt = performance.now();
      await consumer.run({
        partitionsConsumedConcurrently: PARTITIONS,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const receipts = await Promise.all(
            batch.messages.map(async (message) => {
              const command = JSON.parse(message.value!.toString('utf8')) as {
                id: string;
                customerId: string;
              };
              const answer = JSON.parse(await post(agent, url, message.value!)) as { id: string };
              return { key: message.key, value: ceilingReceipt(command, answer.id, receiptSize) };
            }),
          );
          await producer.send({ topic: output, acks: -1, messages: receipts });
          payload.resolveOffset(batch.lastOffset());
          await payload.commitOffsetsIfNecessary();
          await payload.heartbeat();
        },
      });
      await watcher.waitFor(records, idleMs, () => undefined);
      const seconds = (watcher.lastAnswer(records) - startedAt) / 1000;
      const machineAfter = readMachineCpu();
      receiptBytes += watcher.receiptBytes;
      receiptCount += watcher.receipts;
      return {
        perSecond: watcher.count(records) / seconds,
        seconds,
        lost: records.length - watcher.count(records),
        // The ceiling and its server run in this process, so both are the bench share.
        cpuSplit: machineSplit(machineBefore, machineAfter, -1),
      };
    } finally {
      // Closed before the next pass starts, so that no idle group of this one runs beside it.
      await closeEach(
        [() => consumer.disconnect(), () => watcher.close()],
        'ending a ceiling pass',
      );
    }
  };
  try {
    await producer.connect();
    // The same warm-up as the gateway's, so that both are measured compiled (the latency
    // server's thread starts cold with this phase).
    if (warmup.length > 0) {
      await publishInChunks(publisher, warmupInput, warmup);
      await runPass(0, warmup);
    }
    // The records wait on the topic: the clock measures the pipeline, not this script's publishing.
    await publishInChunks(publisher, input, commands);
    const pgBefore = await postgres.read();
    await redis.begin();
    const startedAt = performance.now();
    const passes: CeilingPass[] = [];
    for (let pass = 1; pass <= CEILING_PASSES; pass++) passes.push(await runPass(pass, commands));
    await sleep(COUNTER_SETTLE_MS);
    await redis.end();
    const pgAfter = await postgres.read();
    const wall = (performance.now() - startedAt) / 1000;
    const median = [...passes].sort((a, b) => a.perSecond - b.perSecond)[
      Math.floor(passes.length / 2)
    ]!;
    return {
      perSecond: median.perSecond,
      passesPerSecond: passes.map((pass) => pass.perSecond),
      seconds: median.seconds,
      lost: passes.reduce((sum, pass) => sum + pass.lost, 0),
      meanReceiptBytes: receiptBytes / Math.max(1, receiptCount),
      backgroundPgPerSecond: (pgAfter.statements - pgBefore.statements) / wall,
      backgroundRedisPerSecond: redis.serverWideCalls / wall,
      cpuSplit: median.cpuSplit,
    };
  } finally {
    await closeEach(
      [
        () => producer.disconnect(),
        () => postgres.close(),
        () => agent.destroy(),
        () => server.close(),
      ],
      'closing the ceiling',
    );
  }
}

/** A receipt-shaped record padded to the gateway's mean receipt size. */
function ceilingReceipt(
  command: { id: string; customerId: string },
  providerMessageId: string,
  bytes: number,
): string {
  const receipt = {
    schemaVersion: 1,
    eventId: randomUUID(),
    messageId: command.id,
    customerId: command.customerId,
    status: 'sent',
    channel: 'email',
    provider: 'ceiling',
    providerMessageId,
    attempt: 1,
    occurredAt: new Date().toISOString(),
    trace: [{ channel: 'email', outcome: 'used', detail: '' }],
  };
  const plain = JSON.stringify(receipt);
  receipt.trace[0]!.detail = 'x'.repeat(Math.max(0, bytes - plain.length));
  return JSON.stringify(receipt);
}

interface Summary {
  readonly gatewayPerSecond: number;
  readonly ceilingPerSecond: number;
  /** Each measured pass of the ceiling; ceilingPerSecond is their median. */
  readonly ceilingPassesPerSecond: readonly number[];
  readonly ratioToCeiling: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly otpP99Ms: number;
  /** The latency phase split at the gateway's decision (see ReceiptWatcher.decidedAt). */
  readonly toDecisionP50Ms: number;
  readonly toDecisionP99Ms: number;
  readonly afterDecisionP50Ms: number;
  readonly afterDecisionP99Ms: number;
  readonly waitP50Ms: number;
  readonly waitP99Ms: number;
  /** Each batched storage operation's wait in the latency phase, p50 and p99 (its histogram). */
  readonly storageWaitMs: Record<string, { p50: number; p99: number }>;
  readonly otpToDecisionP99Ms: number;
  readonly otpWaitP50Ms: number;
  readonly otpWaitP99Ms: number;
  readonly cpuMicrosPerCommand: number;
  /** PostgreSQL's CPU per command over the gateway's window (server-wide: others count too). */
  readonly pgCpuMicrosPerCommand: number;
  readonly rssPeakMb: number;
  readonly pgStatementsPerCommand: number;
  /** Server-wide WAL over the throughput phase, per command: other clients' writes count too. */
  readonly pgWalBytesPerCommand: number;
  readonly redisCallsPerCommand: number;
  /** Read events of the Redis server per command, server-wide: its round trips. */
  readonly redisRoundTripsPerCommand: number;
  readonly commands: number;
  readonly lost: number;
  /** Commands the gateway ran before the throughput phase, outside every figure. */
  readonly warmupCommands: number;
  /**
   * Cores used per process role during the throughput phase, the machine's busy cores, and of
   * those the steal: cores the host gave to other virtual machines.
   */
  readonly cpuCores: Readonly<Record<string, number>>;
  readonly ceilingCpuCores: Readonly<Record<string, number>>;
  /** Shares of the throughput phase the gateway's main thread ran, waited for a CPU, idled. */
  readonly mainThread: ScheduleShares | null;
  /** Cores the gateway's threads used in the throughput phase, by kind (V8 helpers: the GC). */
  readonly gatewayThreadCores: Readonly<Record<ThreadKind, number>> | null;
}

function coresOf(split: CpuSplit): Record<string, number> {
  const round = (n: number) => Number(n.toFixed(2));
  return {
    ...Object.fromEntries(CPU_ROLES.map((role) => [role, round(split.cores[role])])),
    busy: round(split.busyCores),
    steal: round(split.stealCores),
    available: split.availableCores,
  };
}

function summarise(gateway: GatewayResult, ceiling: CeilingResult, options: Options): Summary {
  const round = (n: number, digits = 0) => Number(n.toFixed(digits));
  const per = (n: number) => round(n / gateway.commands, 2);
  return {
    gatewayPerSecond: round(gateway.perSecond, 1),
    ceilingPerSecond: round(ceiling.perSecond, 1),
    ceilingPassesPerSecond: ceiling.passesPerSecond.map((perSecond) => round(perSecond, 1)),
    ratioToCeiling: round(gateway.perSecond / ceiling.perSecond, 4),
    p50Ms: round(percentile(gateway.latency.ms, 50)),
    p95Ms: round(percentile(gateway.latency.ms, 95)),
    p99Ms: round(percentile(gateway.latency.ms, 99)),
    otpP99Ms: round(percentile(gateway.otp.ms, 99)),
    toDecisionP50Ms: round(percentile(gateway.latency.toDecisionMs, 50)),
    toDecisionP99Ms: round(percentile(gateway.latency.toDecisionMs, 99)),
    afterDecisionP50Ms: round(percentile(gateway.latency.afterDecisionMs, 50)),
    afterDecisionP99Ms: round(percentile(gateway.latency.afterDecisionMs, 99)),
    waitP50Ms: round(gateway.latency.waitP50Ms),
    waitP99Ms: round(gateway.latency.waitP99Ms),
    storageWaitMs: Object.fromEntries(
      Object.entries(gateway.latency.storageWaitMs).map(([operation, wait]) => [
        operation,
        { p50: round(wait.p50, 1), p99: round(wait.p99, 1) },
      ]),
    ),
    otpToDecisionP99Ms: round(percentile(gateway.otp.toDecisionMs, 99)),
    otpWaitP50Ms: round(gateway.otp.waitP50Ms),
    otpWaitP99Ms: round(gateway.otp.waitP99Ms),
    cpuMicrosPerCommand: round((gateway.cpuSeconds * 1e6) / gateway.commands),
    pgCpuMicrosPerCommand: round((gateway.postgresCpuSeconds * 1e6) / gateway.commands),
    rssPeakMb: round(gateway.rssPeakBytes / 1048576),
    pgStatementsPerCommand: per(
      gateway.postgres.after.statements - gateway.postgres.before.statements,
    ),
    pgWalBytesPerCommand: round(
      (gateway.postgres.after.walBytes - gateway.postgres.before.walBytes) / gateway.commands,
    ),
    // NaN (null in --json) when the backlog was drained before the window opened, or when
    // MONITOR failed during it.
    redisCallsPerCommand: round(gateway.redis.calls / gateway.redis.commands, 2),
    redisRoundTripsPerCommand: round(gateway.redis.serverWideReads / gateway.redis.commands, 2),
    commands: gateway.commands,
    lost: gateway.lost,
    warmupCommands: options.warmup,
    cpuCores: coresOf(gateway.cpuSplit),
    ceilingCpuCores: coresOf(ceiling.cpuSplit),
    mainThread: gateway.mainThread
      ? {
          running: round(gateway.mainThread.running, 3),
          waiting: round(gateway.mainThread.waiting, 3),
          idle: round(gateway.mainThread.idle, 3),
        }
      : null,
    gatewayThreadCores: gateway.threadCores
      ? (Object.fromEntries(
          THREAD_KINDS.map((kind) => [kind, round(gateway.threadCores![kind], 2)]),
        ) as Record<ThreadKind, number>)
      : null,
  };
}

function report(ctx: Context, gateway: GatewayResult, ceiling: CeilingResult, s: Summary): void {
  const { options } = ctx;
  const counted =
    ctx.databaseUrl === ctx.sharedDatabaseUrl
      ? 'database-wide (shared with other clients)'
      : "the gateway's own database";
  const n = (value: number, digits = 0) =>
    value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const { before, after, source } = gateway.postgres;
  const perCommand = (delta: number) => n(delta / gateway.commands, 2);
  const { monitorFailure } = gateway.redis;
  const redisCounter =
    monitorFailure === undefined ? 'MONITOR' : `not counted, MONITOR failed (${monitorFailure}),`;
  const rows: Array<[string, string, string]> = [
    [
      'ceiling (ideal kafkajs pipeline)',
      `${n(s.ceilingPerSecond)} cmd/s`,
      `${n(options.commands)} records, one ${PROVIDER_LATENCY_MS} ms HTTP call each, ${n(ceiling.seconds, 1)} s; median of ${ceiling.passesPerSecond.length} passes (${ceiling.passesPerSecond.map((perSecond) => n(perSecond)).join(', ')}), ${ceiling.lost} lost over the passes`,
    ],
    [
      'gateway end to end',
      `${n(s.gatewayPerSecond)} cmd/s`,
      `${n(gateway.commands)} commands over ${n(options.customers)} customers, ${n(gateway.seconds, 1)} s`,
    ],
    [
      'ratio to ceiling',
      `${n(s.ratioToCeiling * 100, 1)} %`,
      'gateway / ceiling, same broker, same records',
    ],
    ['lost / answered twice', `${s.lost} / ${gateway.answeredTwice}`, 'throughput phase'],
    [
      `publish→receipt p50 / p95 / p99`,
      `${n(s.p50Ms)} / ${n(s.p95Ms)} / ${n(s.p99Ms)} ms`,
      `${n(gateway.latency.offeredPerSecond)} cmd/s offered for ${options.loadSeconds} s, ${gateway.latency.lost} lost`,
    ],
    [
      '  publish→decision / →receipt',
      `${n(s.toDecisionP50Ms)} / ${n(s.afterDecisionP50Ms)} ms p50`,
      `p99 ${n(s.toDecisionP99Ms)} / ${n(s.afterDecisionP99Ms)} ms; decision: the receipt's occurredAt (intake, policy, provider call), then outbox relay and Kafka`,
    ],
    [
      '  of which waiting to be read',
      `${n(s.waitP50Ms)} ms p50`,
      `p99 ${n(s.waitP99Ms)} ms; Kafka timestamp → the gateway starts on it (omnigate_command_wait_seconds, interpolated in its buckets)`,
    ],
    [
      '  waits for storage, p50 / p99',
      `${n(Object.values(gateway.latency.storageWaitMs).reduce((sum, wait) => sum + wait.p50, 0))} ms in all`,
      `${Object.entries(gateway.latency.storageWaitMs)
        .map(([operation, wait]) => `${operation} ${n(wait.p50)} / ${n(wait.p99)}`)
        .join(
          ', ',
        )} ms (omnigate_storage_call_seconds); p50s added up, though not every command meets every one`,
    ],
    [
      'OTP p99 behind a backlog',
      `${n(s.otpP99Ms)} ms`,
      `p50 ${n(percentile(gateway.otp.ms, 50))} ms; ${gateway.otp.answered}/${options.otp} answered behind ${n(options.backlog)}, backlog lost ${gateway.otp.backlogLost}`,
    ],
    [
      '  OTP waiting to be read',
      `${n(s.otpWaitP50Ms)} ms p50`,
      `p99 ${n(s.otpWaitP99Ms)} ms (priority lane's histogram); publish→decision p99 ${n(s.otpToDecisionP99Ms)} ms`,
    ],
    [
      'gateway CPU per command',
      `${n(s.cpuMicrosPerCommand)} µs`,
      `${n(gateway.cpuSeconds, 1)} s CPU in ${n(gateway.wallSeconds, 1)} s = ${n((gateway.cpuSeconds / gateway.wallSeconds) * 100)} % of one core`,
    ],
    [
      'PostgreSQL CPU per command',
      `${n(s.pgCpuMicrosPerCommand)} µs`,
      `${n(gateway.postgresCpuSeconds, 1)} s CPU of the server's processes over the same window (server-wide)`,
    ],
    [
      'machine CPU, throughput phase',
      `${n(gateway.cpuSplit.busyCores, 2)} of ${gateway.cpuSplit.availableCores} cores`,
      describeSplit(gateway.cpuSplit, n),
    ],
    s.mainThread
      ? [
          'gateway main thread, throughput',
          `${n(s.mainThread.running * 100)} % on a CPU`,
          `${n(s.mainThread.waiting * 100)} % runnable, waiting for a CPU; ${n(s.mainThread.idle * 100)} % idle (schedstat)`,
        ]
      : ['gateway main thread, throughput', 'n/a', 'no /proc/<pid>/task/<pid>/schedstat here'],
    s.gatewayThreadCores
      ? [
          'gateway threads, throughput',
          `main ${n(s.gatewayThreadCores.main, 2)} cores`,
          `V8 helpers ${n(s.gatewayThreadCores['V8 helpers'], 2)} (collector, compiler), libuv pool ${n(s.gatewayThreadCores['libuv pool'], 2)}, other ${n(s.gatewayThreadCores.other, 2)}`,
        ]
      : ['gateway threads, throughput', 'n/a', 'the gateway had gone from /proc'],
    [
      'machine CPU, ceiling',
      `${n(ceiling.cpuSplit.busyCores, 2)} of ${ceiling.cpuSplit.availableCores} cores`,
      describeSplit(ceiling.cpuSplit, n),
    ],
    ['gateway RSS peak', `${n(s.rssPeakMb)} MB`, 'VmHWM, whole run'],
    [
      'PostgreSQL per command',
      `${n(s.pgStatementsPerCommand, 2)} ${source === 'pg_stat_statements' ? 'statements' : 'transactions'}`,
      `${source}, ${counted}; schema's own tables: ${perCommand(after.rowsWritten - before.rowsWritten)} rows written, ${perCommand(after.scans - before.scans)} scans, ${hotShare(before, after)}; ${n(s.pgWalBytesPerCommand)} B of WAL (server-wide)`,
    ],
    [
      'Redis per command',
      `${n(s.redisCallsPerCommand, 2)} calls`,
      `${redisCounter} over ${n(gateway.redis.commands)} backlog commands after the OTPs, gateway's connections (EVALSHA = 1); INFO commandstats server-wide ${n(gateway.redis.serverWide / gateway.redis.commands, 2)}; round trips ${n(s.redisRoundTripsPerCommand, 2)} (read events, INFO stats, server-wide)`,
    ],
    [
      'others on the shared servers',
      `${n(ceiling.backgroundPgPerSecond, 1)} / ${n(ceiling.backgroundRedisPerSecond, 1)} per s`,
      'PostgreSQL transactions / Redis commands while the ceiling ran (it uses neither)',
    ],
    [
      'mean receipt size',
      `${n(gateway.meanReceiptBytes)} B`,
      `ceiling ${n(ceiling.meanReceiptBytes)} B; provider latency ${PROVIDER_LATENCY_MS} ms in both`,
    ],
  ];
  const width = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const [label, value, note] of rows)
    console.log(`${label.padEnd(width[0]!)}  ${value.padStart(width[1]!)}  ${note}`);
  const statuses = [...gateway.statuses].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`);
  console.log(`\ngateway receipts, all phases: ${statuses.join(', ')}`);
  console.log(
    `host: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (1 / 5 / 15 min) at the end`,
  );
}

/** The share of row updates that touched no index: a HOT update writes only the heap page. */
function hotShare(before: PostgresReading, after: PostgresReading): string {
  const updates = after.updates - before.updates;
  if (updates === 0) return 'no row updates';
  const share = ((after.hotUpdates - before.hotUpdates) / updates) * 100;
  return `${share.toFixed(0)} % of updates heap-only (HOT)`;
}

/** The roles, and the busiest other commands, that used a hundredth of a core or more. */
function describeSplit(split: CpuSplit, n: (value: number, digits?: number) => string): string {
  const others = split.busiestOthers
    .filter((other) => other.cores >= 0.01)
    .map((other) => `${other.command} ${n(other.cores, 2)}`);
  return [...CPU_ROLES]
    .filter((role) => split.cores[role] >= 0.01)
    .sort((a, b) => split.cores[b] - split.cores[a])
    .map((role) => `${role} ${n(split.cores[role], 2)}`)
    .join(', ')
    .concat(others.length === 0 ? '' : `; others: ${others.join(', ')}`)
    .concat(`; steal ${n(split.stealCores, 2)} (taken by the host)`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runId = randomUUID().slice(0, 8);
  const sharedDatabaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const databaseSchema = `bench_${runId}`;
  const ownDatabaseUrl = await createOwnDatabase(sharedDatabaseUrl, databaseSchema);
  const databaseUrl = ownDatabaseUrl ?? sharedDatabaseUrl;
  console.log(
    `Omnigate benchmark ${runId}${options.quick ? ' (quick)' : ''}: PostgreSQL ${ownDatabaseUrl ? `database ${databaseSchema} of its own` : `schema ${databaseSchema}`}, Redis ${redisUrl}, sandbox providers at ${PROVIDER_LATENCY_MS} ms; gateway log in test-output/bench-gateway.log`,
  );
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });
  const kafka = createKafkaClient({ clientId: 'omnigate-bench', brokers: BROKERS }, quietLogger);
  const publisher = new KafkaPublisher(kafka, quietLogger);
  await publisher.connect();
  const sandbox = await SandboxSuite.start({
    defaultPlan: { latency: { minMs: PROVIDER_LATENCY_MS, maxMs: PROVIDER_LATENCY_MS } },
    // As a real push service does, and as the ceiling's server does nothing but wait: decrypting
    // every push took the sandbox's share of the cores the gateway is measured on.
    webPushPayloads: 'forward',
  });
  const redis = await RedisCallCounter.start(redisUrl);
  const ctx: Context = {
    options,
    runId,
    kafka,
    publisher,
    sandbox,
    databaseUrl,
    sharedDatabaseUrl,
    redisUrl,
    databaseSchema,
    createdTopics: [],
  };
  // Real subscriptions on the sandbox push service, shared among the customers.
  const pool = Array.from({ length: 64 }, () => sandbox.newWebPushSubscription().subscription);
  const subscription: WebPushSubscriptionFactory = (i) => pool[i % pool.length]!;
  const throughput = mixedCommands(runId, 'tp', options.commands, subscription);
  const warmup = mixedCommands(runId, 'warmup', options.warmup, subscription);
  let summary: Summary | undefined;
  try {
    console.log('\n— gateway');
    const gateway = await runGateway(ctx, redis, throughput, warmup, subscription);
    // The same records on topics of its own, after the gateway has gone.
    console.log('\n— ceiling');
    const ceiling = await runCeiling(ctx, throughput, warmup, gateway.meanReceiptBytes, redis);
    summary = summarise(gateway, ceiling, options);
    report(ctx, gateway, ceiling, summary);
    if (options.cpuProfDir)
      console.log(
        `\nCPU profile of the gateway in ${options.cpuProfDir}: node dist/scripts/cpu-profile-top.js ${options.cpuProfDir}/*.cpuprofile`,
      );
    if (options.json) {
      writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`\nwrote ${options.json}`);
    }
  } finally {
    await closeEach(
      [
        () => redis.close(),
        () => sandbox.close(),
        () => publisher.disconnect(),
        async () => {
          if (options.keep) return;
          await cleanUp(kafka, ctx.createdTopics, databaseUrl, databaseSchema);
          if (ownDatabaseUrl) await dropOwnDatabase(sharedDatabaseUrl, databaseSchema);
        },
      ],
      'cleaning up',
    );
  }
  if (summary && summary.lost > 0) {
    console.error('\nNot every command got a receipt; see test-output/bench-gateway.log');
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  // console.error inspects the error: an AggregateError of failed closes shows each of them.
  console.error(error);
  process.exit(1);
});
