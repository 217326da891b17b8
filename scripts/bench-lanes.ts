/**
 * `npm run bench:lanes [-- --marketing N --otp M]`: does an OTP overtake a marketing backlog?
 *
 * For each of two runs, on topics of its own and a fresh gateway child process against the
 * provider sandbox (20–120 ms per provider call): publish N marketing emails to the send topic,
 * then M one-time passcodes by SMS, one every --otp-interval-ms, and time each OTP from publish to
 * its receipt. "two lanes" publishes the OTPs to the priority topic; "one lane" publishes them to
 * the send topic behind the same backlog. Prints OTP latency percentiles, marketing throughput,
 * how much marketing was still unanswered when the last OTP receipt arrived, and the gateway's
 * CPU and RSS sampled from /proc.
 *
 * Storage follows the environment: PostgreSQL when DATABASE_URL is set (a schema of its own per
 * run, dropped afterwards), else the gateway's embedded PGlite; Redis caps when REDIS_URL is set.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { DeliveryReceipt } from '../libs/contracts/src';
import {
  ConsumerRunner,
  createKafkaClient,
  KafkaPublisher,
  type InboundRecord,
  type Kafka,
} from '../libs/kafka/src';
import { SandboxSuite } from '../libs/sandbox/src';
import {
  BROKERS,
  cleanUp,
  createGatewayTopics,
  freePort,
  gatewayEnvironment,
  PARTITIONS,
  percentile,
  ProcessSampler,
  publishInChunks,
  quietLogger,
  sleep,
  startGateway,
  stopGateway,
  waitForGroupToCatchUp,
  waitUntil,
  type GatewayTopics,
  type ProcessUsage,
} from './lib/bench-support';
import { closeEach } from './lib/close-each';
import { consentProfile, marketingEmailCommand, otpSmsCommand } from './lib/workload';

/** The default rule caps marketing at 6 a day per customer: stay under it, nothing is capped. */
const MARKETING_PER_CUSTOMER = 5;

interface Options {
  readonly marketing: number;
  readonly otp: number;
  readonly otpIntervalMs: number;
  readonly timeoutSeconds: number;
  readonly keep: boolean;
}

type Mode = 'two lanes' | 'one lane';

interface RunResult {
  readonly mode: Mode;
  readonly otpLatenciesMs: readonly number[];
  /** Of each OTP's latency: publish → the gateway settled it (the receipt's occurredAt). */
  readonly otpSettleMs: readonly number[];
  readonly otpAnswered: number;
  readonly backlogWhenOtpBegan: number;
  readonly marketingLeftAtLastOtp: number;
  readonly marketingAnswered: number;
  readonly marketingSeconds: number;
  readonly statuses: ReadonlyMap<string, number>;
  readonly samples: readonly ProcessUsage[];
}

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: bench-lanes [--marketing N (10000)] [--otp M (100)] [--otp-interval-ms 20] [--timeout-s 900] [--keep]`,
  );
  process.exit(64);
}

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  let keep = false;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i]!;
    if (flag === '--keep') keep = true;
    else if (flag.startsWith('--') && argv[i + 1] !== undefined) values.set(flag, argv[++i]!);
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
    marketing: whole('--marketing', 10000, 0),
    otp: whole('--otp', 100, 1),
    otpIntervalMs: whole('--otp-interval-ms', 20, 0),
    timeoutSeconds: whole('--timeout-s', 900, 10),
    keep,
  };
  if (values.size > 0) usage(`unknown flag ${[...values.keys()].join(', ')}`);
  return options;
}

/** Receipts of one run as they arrive, with what had been answered at each moment. */
class ReceiptTally {
  /** messageId → first arrival (performance.now()). */
  readonly firstSeen = new Map<string, number>();
  /** messageId → the receipt's occurredAt, on the performance.now() scale (same machine clock). */
  readonly settledAt = new Map<string, number>();
  readonly statuses = new Map<string, number>();
  marketingAnswered = 0;
  lastMarketingAt = 0;
  otpAnswered = 0;
  /** Marketing answered when the latest OTP receipt arrived. */
  marketingAtLastOtp = 0;

  constructor(
    private readonly marketingIds: ReadonlySet<string>,
    private readonly otpIds: ReadonlySet<string>,
  ) {}

  add(receipt: DeliveryReceipt, at: number): void {
    const kind = this.marketingIds.has(receipt.messageId)
      ? 'marketing'
      : this.otpIds.has(receipt.messageId)
        ? 'otp'
        : undefined;
    if (kind === undefined || this.firstSeen.has(receipt.messageId)) return;
    this.firstSeen.set(receipt.messageId, at);
    this.settledAt.set(receipt.messageId, Date.parse(receipt.occurredAt) - performance.timeOrigin);
    const label = `${kind} ${receipt.status}${receipt.channel ? ` (${receipt.channel})` : ''}`;
    this.statuses.set(label, (this.statuses.get(label) ?? 0) + 1);
    if (kind === 'marketing') {
      this.marketingAnswered += 1;
      this.lastMarketingAt = at;
    } else {
      this.otpAnswered += 1;
      this.marketingAtLastOtp = this.marketingAnswered;
    }
  }
}

async function runOnce(
  mode: Mode,
  options: Options,
  kafka: Kafka,
  sandbox: SandboxSuite,
  runId: string,
  databaseSchema: string | undefined,
  createdTopics: string[],
): Promise<RunResult> {
  const tag = mode === 'two lanes' ? 'two' : 'one';
  const base = `bench.lanes.${runId}.${tag}`;
  const topics = await createGatewayTopics(kafka, base);
  createdTopics.push(...Object.values(topics));

  // Customers of their own per run: Redis keeps the caps of earlier runs for a day.
  const customers = Math.ceil(options.marketing / MARKETING_PER_CUSTOMER);
  const marketingCustomer = (i: number) => `bench-${runId}-${tag}-m${i % customers}`;
  const marketing = Array.from({ length: options.marketing }, (_, i) => {
    const id = `bench-${runId}-${tag}-mkt-${String(i).padStart(6, '0')}`;
    return {
      key: marketingCustomer(i),
      value: JSON.stringify(marketingEmailCommand(id, marketingCustomer(i), i)),
      id,
    };
  });
  const otp = Array.from({ length: options.otp }, (_, i) => {
    const id = `bench-${runId}-${tag}-otp-${String(i).padStart(4, '0')}`;
    const customer = `bench-${runId}-${tag}-o${i}`;
    return { key: customer, value: JSON.stringify(otpSmsCommand(id, customer, i)), id };
  });
  const tally = new ReceiptTally(
    new Set(marketing.map((m) => m.id)),
    new Set(otp.map((o) => o.id)),
  );

  const reader = new ConsumerRunner(
    kafka,
    {
      groupId: `${base}.reader`,
      topics: [topics.receipts],
      concurrency: 1000,
      partitionsConsumedConcurrently: PARTITIONS,
      sessionTimeoutMs: 10000,
      heartbeatIntervalMs: 1000,
      maxConsecutiveFailures: 5,
      fromBeginning: true,
      commitIntervalMs: 1000,
      commitThreshold: 1000,
    },
    (record: InboundRecord) => {
      const at = performance.now();
      if (record.value) tally.add(JSON.parse(record.value.toString('utf8')) as DeliveryReceipt, at);
      return Promise.resolve();
    },
    quietLogger,
    (error) => {
      console.error(`receipt reader crashed: ${error.message}`);
      process.exit(1);
    },
  );
  await reader.start();
  try {
    await waitUntil('the receipt reader to join', 30000, () => reader.isReady);
    const env = gatewayEnvironment({
      sandbox,
      topics,
      groupPrefix: `${base}.gateway`,
      port: await freePort(),
      databaseSchema,
    });
    const gateway = await startGateway(env, `bench-lanes-${tag}-lane`);
    try {
      return await measure(mode, options, kafka, topics, env, gateway, tally, {
        customers,
        marketingCustomer,
        marketing,
        otp,
      });
    } finally {
      const code = await stopGateway(gateway);
      if (code !== 0) console.error(`the ${mode} gateway stopped with exit code ${code}`);
    }
  } finally {
    await reader.stop();
  }
}

interface Workload {
  readonly customers: number;
  readonly marketingCustomer: (i: number) => string;
  readonly marketing: ReadonlyArray<{ key: string; value: string; id: string }>;
  readonly otp: ReadonlyArray<{ key: string; value: string; id: string }>;
}

/** Consent profiles first, then the marketing backlog, then the OTPs; returns once all are answered. */
async function measure(
  mode: Mode,
  options: Options,
  kafka: Kafka,
  topics: GatewayTopics,
  env: NodeJS.ProcessEnv,
  gateway: ChildProcess,
  tally: ReceiptTally,
  { customers, marketingCustomer, marketing, otp }: Workload,
): Promise<RunResult> {
  const publisher = new KafkaPublisher(kafka, quietLogger);
  await publisher.connect();
  const sampler = new ProcessSampler(gateway.pid!);
  try {
    // Marketing needs a granted consent: store one per customer before the clock starts.
    const now = new Date();
    const profileRecords = Array.from({ length: customers }, (_, i) => {
      const customer = marketingCustomer(i);
      return { key: customer, value: JSON.stringify(consentProfile(customer, now)) };
    });
    await publishInChunks(publisher, topics.profiles, profileRecords);
    await waitForGroupToCatchUp(
      kafka,
      env.KAFKA_PROFILES_GROUP_ID!,
      topics.profiles,
      'the gateway to store the consent profiles',
    );

    sampler.start(200);
    const startedAt = performance.now();
    await publishInChunks(publisher, topics.send, marketing);
    const backlogWhenOtpBegan = options.marketing - tally.marketingAnswered;
    const otpTopic = mode === 'two lanes' ? topics.priority : topics.send;
    const publishedAt = new Map<string, number>();
    for (const record of otp) {
      const before = performance.now();
      publishedAt.set(record.id, before);
      await publisher.publish(otpTopic, [record]);
      const left = options.otpIntervalMs - (performance.now() - before);
      if (left > 0) await sleep(left);
    }
    await waitUntil('every receipt', options.timeoutSeconds * 1000, () => {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited with ${gateway.exitCode}`);
      return tally.otpAnswered === otp.length && tally.marketingAnswered === marketing.length;
    }).catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
    });
    sampler.stop();

    return {
      mode,
      otpLatenciesMs: otp
        .filter((o) => tally.firstSeen.has(o.id))
        .map((o) => tally.firstSeen.get(o.id)! - publishedAt.get(o.id)!),
      otpSettleMs: otp
        .filter((o) => tally.settledAt.has(o.id))
        .map((o) => tally.settledAt.get(o.id)! - publishedAt.get(o.id)!),
      otpAnswered: tally.otpAnswered,
      backlogWhenOtpBegan,
      marketingLeftAtLastOtp: options.marketing - tally.marketingAtLastOtp,
      marketingAnswered: tally.marketingAnswered,
      marketingSeconds: (tally.lastMarketingAt - startedAt) / 1000,
      statuses: tally.statuses,
      samples: sampler.samples,
    };
  } finally {
    sampler.stop();
    await publisher.disconnect();
  }
}

function report(results: readonly RunResult[], options: Options): void {
  const rows: Array<[string, (r: RunResult) => string]> = [
    ['OTP answered', (r) => `${r.otpAnswered}/${options.otp}`],
    ...([50, 95, 99] as const).map((p): [string, (r: RunResult) => string] => [
      `OTP publish→receipt p${p}`,
      (r) =>
        `${Math.round(
          percentile(
            [...r.otpLatenciesMs].sort((a, b) => a - b),
            p,
          ),
        )} ms`,
    ]),
    ['OTP publish→receipt max', (r) => `${Math.round(Math.max(...r.otpLatenciesMs))} ms`],
    // Where the time goes: until the gateway settled it, then the outbox relay and Kafka.
    [
      'OTP publish→settled p50 / p95',
      (r) => {
        const sorted = [...r.otpSettleMs].sort((a, b) => a - b);
        return `${Math.round(percentile(sorted, 50))} / ${Math.round(percentile(sorted, 95))} ms`;
      },
    ],
    ['marketing unanswered as OTPs began', (r) => String(r.backlogWhenOtpBegan)],
    ['marketing unanswered at last OTP', (r) => String(r.marketingLeftAtLastOtp)],
    ['marketing answered', (r) => `${r.marketingAnswered}/${options.marketing}`],
    [
      'marketing throughput',
      (r) =>
        r.marketingAnswered === 0
          ? 'n/a'
          : `${Math.round(r.marketingAnswered / r.marketingSeconds)} cmd/s (${r.marketingSeconds.toFixed(1)} s)`,
    ],
    [
      'gateway CPU (mean, one core = 100%)',
      (r) => {
        const first = r.samples[0];
        const last = r.samples[r.samples.length - 1];
        if (!first || !last || last.at === first.at) return 'n/a';
        const cpu = last.cpuSeconds - first.cpuSeconds;
        return `${Math.round((cpu / ((last.at - first.at) / 1000)) * 100)}% (${cpu.toFixed(1)} s)`;
      },
    ],
    [
      'gateway RSS peak / mean',
      (r) => {
        if (r.samples.length === 0) return 'n/a';
        const mb = (b: number) => Math.round(b / 1048576);
        const peak = Math.max(...r.samples.map((s) => s.rssBytes));
        const mean = r.samples.reduce((sum, s) => sum + s.rssBytes, 0) / r.samples.length;
        return `${mb(peak)} / ${mb(mean)} MB`;
      },
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const column = 26;
  console.log(`\n${''.padEnd(width)}  ${results.map((r) => r.mode.padStart(column)).join('')}`);
  for (const [label, value] of rows) {
    console.log(
      `${label.padEnd(width)}  ${results.map((r) => value(r).padStart(column)).join('')}`,
    );
  }
  for (const r of results) {
    const statuses = [...r.statuses].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`);
    console.log(`\nreceipts (${r.mode}): ${statuses.join(', ')}`);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runId = randomUUID().slice(0, 8);
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const databaseSchema = databaseUrl ? `bench_lanes_${runId}` : undefined;
  console.log(
    `Omnigate lanes benchmark ${runId}: ${options.marketing} marketing emails over ${Math.ceil(options.marketing / MARKETING_PER_CUSTOMER)} customers, then ${options.otp} OTPs by SMS one every ${options.otpIntervalMs} ms`,
  );
  console.log(
    `storage: ${databaseUrl ? `PostgreSQL (schema ${databaseSchema})` : 'embedded PGlite'}, caps ${process.env.REDIS_URL ? 'in Redis' : 'in process'}; sandbox providers answer in 20–120 ms; gateway logs in test-output/bench-lanes-*.log`,
  );
  const kafka = createKafkaClient({ clientId: 'omnigate-bench', brokers: BROKERS }, quietLogger);
  const sandbox = await SandboxSuite.start({ defaultPlan: { latency: { minMs: 20, maxMs: 120 } } });
  const createdTopics: string[] = [];
  const results: RunResult[] = [];
  try {
    for (const mode of ['two lanes', 'one lane'] as const) {
      console.log(`\n— ${mode}: OTPs on the ${mode === 'two lanes' ? 'priority' : 'send'} topic`);
      const result = await runOnce(
        mode,
        options,
        kafka,
        sandbox,
        runId,
        databaseSchema,
        createdTopics,
      );
      console.log(
        `  OTP p50 ${Math.round(
          percentile(
            [...result.otpLatenciesMs].sort((a, b) => a - b),
            50,
          ),
        )} ms, ${result.marketingLeftAtLastOtp} marketing unanswered at the last OTP receipt`,
      );
      results.push(result);
    }
    report(results, options);
    // The figures move with whatever else the machine runs: say how busy it was.
    console.log(
      `\nhost: ${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')} (1 / 5 / 15 min) at the end`,
    );
  } finally {
    await closeEach(
      [
        () => sandbox.close(),
        () =>
          options.keep ? undefined : cleanUp(kafka, createdTopics, databaseUrl, databaseSchema),
      ],
      'cleaning up',
    );
  }
  const incomplete = results.some(
    (r) => r.otpAnswered < options.otp || r.marketingAnswered < options.marketing,
  );
  if (incomplete) {
    console.error('\nNot every command got a receipt; see test-output/bench-lanes-*.log');
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  // console.error inspects the error: an AggregateError of failed closes shows each of them.
  console.error(error);
  process.exit(1);
});
