import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { gatewayEnv } from './support/env';
import { freePort, GatewayProcess } from './support/gateway';
import { BROKERS, createTestTopics, TopicReader } from './support/kafka';
import { OwnBroker, OwnPostgres, OwnRedis } from './support/outages';
import { DATABASE_URL, dropSchema, uniqueSchema } from './support/storage';

/**
 * Dependencies that fail while commands flow (20 a second): Redis, PostgreSQL and the Kafka broker
 * each stop for a while and come back on the same port, and a provider accepts connections but
 * never answers. Every command must get exactly one terminal receipt, the gateway must never exit,
 * readiness must say "not ready" while a storage dependency is down and "ready" after it, and work
 * must resume within 10 s of the dependency's return. Prints lost / duplicates / resume per case.
 */

// Longer than the consumer's session timeout (10 s here), so a consumer that stopped heartbeating
// while it waits would be seen; the broker's outage is longer, to outlast the client's retries.
const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 15_000);
const BROKER_OUTAGE_MS = Number(process.env.BROKER_OUTAGE_MS ?? 30_000);
const BEFORE_MS = 3_000;
const AFTER_MS = 3_000;
/** How long after the work is answered the gateway has to report ready again. */
const READY_AGAIN_WITHIN_MS = 20_000;
const TERMINAL: ReadonlySet<DeliveryReceipt['status']> = new Set([
  'sent',
  'failed',
  'suppressed',
  'capped',
  'expired',
  'rejected',
  'unknown',
]);

interface Figures {
  readonly dependency: string;
  readonly published: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly resumeMs: number | null;
  readonly notReadyDuringOutage: boolean;
  readonly readyAfter: boolean;
}
const table: Figures[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  if (table.length > 0) {
    const line = (cells: readonly string[]) => cells.map((c) => c.padEnd(15)).join('| ');
    console.log(
      [
        'dependency outages:',
        line([
          'dependency',
          'published',
          'lost',
          'duplicates',
          'resume',
          'not ready',
          'ready after',
        ]),
        ...table.map((f) =>
          line([
            f.dependency,
            String(f.published),
            String(f.lost),
            String(f.duplicates),
            f.resumeMs === null ? '-' : `${(f.resumeMs / 1000).toFixed(1)} s`,
            String(f.notReadyDuringOutage),
            String(f.readyAfter),
          ]),
        ),
      ].join('\n'),
    );
  }
});

function command(id: string, index: number): { key: string; value: string } {
  // A customer per command: no frequency cap ever applies, yet each send reserves one in Redis.
  const customerId = `cust-${id.slice(4, 16)}`;
  return {
    key: customerId,
    value: JSON.stringify({
      id,
      customerId,
      category: 'order_updates',
      channels: ['sms'],
      recipient: { phone: `+1415555${String(1000 + (index % 9000)).padStart(4, '0')}` },
      content: { sms: { text: `Order update ${id}` } },
    }),
  };
}

/** Publishes 5 commands every 250 ms until stopped; a batch the broker refuses is sent again. */
class SteadyStream {
  readonly published: string[] = [];
  private running = true;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  start(): this {
    this.loop = (async () => {
      for (let index = 0; this.running;) {
        const ids = Array.from({ length: 5 }, () => `cmd-${randomUUID()}`);
        const tickAt = Date.now();
        for (;;) {
          try {
            await this.producer.send({
              topic: this.topic,
              acks: -1,
              messages: ids.map((id, j) => command(id, index + j)),
            });
            break;
          } catch {
            await sleep(500);
          }
        }
        this.published.push(...ids);
        index += ids.length;
        await sleep(Math.max(0, 250 - (Date.now() - tickAt)));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Polls /health/ready and /health/live every 250 ms, keeping what each answered and when. */
class ProbeRecorder {
  readonly ready: Array<{ at: number; status: number; body: string }> = [];
  liveFailures = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(port: number) {
    this.loop = (async () => {
      while (this.running) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/health/ready`, {
            signal: AbortSignal.timeout(2_000),
          });
          this.ready.push({ at: Date.now(), status: response.status, body: await response.text() });
          const live = await fetch(`http://127.0.0.1:${port}/health/live`, {
            signal: AbortSignal.timeout(2_000),
          });
          if (live.status !== 200) this.liveFailures += 1;
        } catch {
          this.liveFailures += 1;
        }
        await sleep(250);
      }
    })();
  }

  between(from: number, to: number): Array<{ status: number; body: string }> {
    return this.ready.filter((r) => r.at >= from && r.at <= to);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

interface OutageCase {
  readonly dependency: string;
  readonly kafka: Kafka;
  readonly env: Record<string, string>;
  readonly outageMs: number;
  readonly stop: () => Promise<void>;
  readonly start: () => Promise<void>;
  /** Whether /health/ready must turn 503 during the outage, and name this. */
  readonly readinessNames?: string;
}

/** Runs one outage against a fresh gateway and checks the outcome; returns its figures. */
async function runOutage(c: OutageCase): Promise<Figures> {
  const topics = await createTestTopics(c.kafka, 3);
  const gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      KAFKA_BROKERS: c.env.KAFKA_BROKERS ?? BROKERS.join(','),
      CONSUMER_CONCURRENCY: '16',
      LOG_ADAPTER_LATENCY_MS: '20',
      ...c.env,
    }),
    `outage-${c.dependency}`,
  );
  cleanups.push(() => gateway.stop());
  const receipts = await new TopicReader(c.kafka, topics.receipts).start();
  cleanups.push(() => receipts.stop());
  const producer = c.kafka.producer();
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  const probes = new ProbeRecorder(gateway.port);
  cleanups.push(() => probes.stop());

  const stream = new SteadyStream(producer, topics.send).start();
  await sleep(BEFORE_MS);
  const stoppedAt = Date.now();
  await c.stop();
  await sleep(c.outageMs);
  await c.start();
  const restartedAt = Date.now();
  const receiptsAtRestart = receipts.records.length;
  let resumeMs: number | null = null;
  const resumed = (async () => {
    while (Date.now() - restartedAt < 60_000) {
      if (receipts.records.length > receiptsAtRestart) {
        resumeMs = Date.now() - restartedAt;
        return;
      }
      await sleep(50);
    }
  })();
  await sleep(AFTER_MS);
  await stream.stop();
  await resumed;

  const ids = stream.published;
  const terminalOf = (value: string): DeliveryReceipt | undefined => {
    const receipt = JSON.parse(value) as DeliveryReceipt;
    return TERMINAL.has(receipt.status) ? receipt : undefined;
  };
  const answered = (): Set<string> =>
    new Set(receipts.records.flatMap((r) => terminalOf(r.value)?.messageId ?? []));
  const deadline = Date.now() + 60_000;
  while (ids.some((id) => !answered().has(id)) && Date.now() < deadline) await sleep(250);
  // Time for a late second receipt to show up before counting.
  await sleep(1_500);
  await probes.stop();

  const terminal = new Map<string, number>();
  for (const record of receipts.records) {
    const receipt = terminalOf(record.value);
    if (receipt) terminal.set(receipt.messageId, (terminal.get(receipt.messageId) ?? 0) + 1);
  }
  const duringOutage = probes.between(stoppedAt + 2_000, restartedAt);
  // After a broker restart a consumer may rejoin its group seconds after the work resumed, so
  // readiness is polled rather than probed once; a gateway that never gets there still fails.
  const readyAfter = await gateway.waitUntilReady(READY_AGAIN_WITHIN_MS).then(
    () => true,
    (error: unknown) => {
      console.log(`not ready again after the outage: ${String(error)}`);
      return false;
    },
  );
  const figures: Figures = {
    dependency: c.dependency,
    published: ids.length,
    lost: ids.filter((id) => !terminal.has(id)).length,
    duplicates: ids.filter((id) => (terminal.get(id) ?? 0) > 1).length,
    resumeMs,
    notReadyDuringOutage: duringOutage.some((r) => r.status === 503),
    readyAfter,
  };
  table.push(figures);
  console.log(
    `${c.dependency} outage of ${c.outageMs} ms: ${JSON.stringify(figures)}; statuses ` +
      JSON.stringify(countStatuses(receipts.records.map((r) => r.value))),
  );

  expect(figures.lost).toBe(0);
  expect(figures.duplicates).toBe(0);
  expect(ids.length).toBeGreaterThan(((BEFORE_MS + AFTER_MS) / 1000) * 15);
  // The process never exited: it answered every liveness probe and is still running.
  expect(probes.liveFailures).toBe(0);
  await expect(gateway.waitForExit(10)).rejects.toThrow(/did not exit/);
  expect(resumeMs).not.toBeNull();
  expect(resumeMs!).toBeLessThan(10_000);
  if (c.readinessNames) {
    expect(figures.notReadyDuringOutage).toBe(true);
    const notReady = duringOutage.find((r) => r.status === 503);
    expect(notReady?.body).toContain(`"${c.readinessNames}":{"state":"down"`);
    // Waiting, not failing batches over and over (which kafkajs would turn into a rebalance and,
    // after CONSUMER_MAX_CONSECUTIVE_FAILURES, an exit): the consumer says it is paused.
    expect(duringOutage.some((r) => r.body.includes('"send":"paused"'))).toBe(true);
  }
  expect(figures.readyAfter).toBe(true);
  return figures;
}

it('Redis stops for 15 s: commands wait, none is lost or answered twice, readiness names redis', async () => {
  const kafka = testKafka(BROKERS);
  const redis = new OwnRedis(await freePort());
  await redis.start();
  cleanups.push(() => redis.stop());
  const schema = uniqueSchema();
  cleanups.push(() => dropSchema(schema));
  await runOutage({
    dependency: 'redis',
    kafka,
    env: { DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL: redis.url },
    outageMs: OUTAGE_MS,
    stop: () => redis.stop(),
    start: () => redis.start(),
    readinessNames: 'redis',
  });
});

it('PostgreSQL stops for 15 s: commands wait, none is lost or answered twice, readiness names postgresql', async () => {
  const kafka = testKafka(BROKERS);
  const postgres = new OwnPostgres(await freePort());
  await postgres.init();
  await postgres.start();
  cleanups.push(() => postgres.dispose());
  await runOutage({
    dependency: 'postgresql',
    kafka,
    // Caps in process: this case is about the database alone.
    env: { DATABASE_URL: postgres.url, DATABASE_POOL_SIZE: '8' },
    outageMs: OUTAGE_MS,
    stop: () => postgres.stop(),
    start: () => postgres.start(),
    readinessNames: 'postgresql',
  });
});

it('the Kafka broker stops for 30 s and restarts with its data: nothing lost, work resumes', async () => {
  const broker = new OwnBroker(await freePort(), await freePort());
  await broker.start();
  cleanups.push(() => broker.dispose());
  const kafka = testKafka([broker.brokers]);
  const schema = uniqueSchema();
  cleanups.push(() => dropSchema(schema));
  await runOutage({
    dependency: 'kafka broker',
    kafka,
    env: { KAFKA_BROKERS: broker.brokers, DATABASE_URL, DATABASE_SCHEMA: schema },
    outageMs: BROKER_OUTAGE_MS,
    stop: () => broker.stop(),
    start: () => broker.restart(),
  });
});

it('a provider that accepts connections and never answers: the timeout and the breaker move traffic to the backup', async () => {
  // Accepts, reads, and holds every socket open without a byte of reply.
  const held: Socket[] = [];
  const silent: Server = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const suite = await SandboxSuite.start();
  cleanups.push(() => suite.close());
  const schema = uniqueSchema();
  cleanups.push(() => dropSchema(schema));
  const kafka = testKafka(BROKERS);
  const topics = await createTestTopics(kafka, 3);
  const gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      PROVIDER_TWILIO_BASE_URL: `http://127.0.0.1:${address.port}`,
      PROVIDER_TWILIO_TIMEOUT_MS: '1000',
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      CONSUMER_CONCURRENCY: '16',
    }),
    'outage-provider',
  );
  cleanups.push(() => gateway.stop());
  const receipts = await new TopicReader(kafka, topics.receipts).start();
  cleanups.push(() => receipts.stop());
  const producer = kafka.producer();
  await producer.connect();
  cleanups.push(() => producer.disconnect());

  const startedAt = Date.now();
  const stream = new SteadyStream(producer, topics.send).start();
  await sleep(10_000);
  await stream.stop();
  const ids = stream.published;
  const terminal = new Map<string, DeliveryReceipt[]>();
  const deadline = Date.now() + 60_000;
  for (;;) {
    terminal.clear();
    for (const record of receipts.records) {
      const receipt = JSON.parse(record.value) as DeliveryReceipt;
      if (!TERMINAL.has(receipt.status)) continue;
      terminal.set(receipt.messageId, [...(terminal.get(receipt.messageId) ?? []), receipt]);
    }
    if (ids.every((id) => terminal.has(id)) || Date.now() > deadline) break;
    await sleep(250);
  }
  const settledMs = Date.now() - startedAt;
  const all = [...terminal.values()].flat();
  const byBackup = all.filter((r) => r.status === 'sent' && r.provider === 'twilio_backup');
  const unknown = all.filter((r) => r.status === 'unknown');
  const figures: Figures = {
    dependency: 'provider hang',
    published: ids.length,
    lost: ids.filter((id) => !terminal.has(id)).length,
    duplicates: ids.filter((id) => (terminal.get(id)?.length ?? 0) > 1).length,
    resumeMs: null,
    notReadyDuringOutage: false,
    readyAfter: (await fetch(`http://127.0.0.1:${gateway.port}/health/ready`)).status === 200,
  };
  table.push(figures);
  console.log(
    `provider hang: ${ids.length} commands settled in ${settledMs} ms; sent by twilio_backup ` +
      `${byBackup.length}, unknown (the silent call may have gone out) ${unknown.length}; ` +
      `statuses ${JSON.stringify(countStatuses(receipts.records.map((r) => r.value)))}`,
  );
  expect(figures.lost).toBe(0);
  expect(figures.duplicates).toBe(0);
  // The calls in flight when the provider fell silent end as unknown (never resent elsewhere);
  // once the breaker opens, everything goes to the backup without waiting for the timeout.
  expect(byBackup.length + unknown.length).toBe(ids.length);
  expect(byBackup.length).toBeGreaterThan(ids.length * 0.8);
  // Not stalled: the stream was answered within seconds of its end, not a timeout per command.
  expect(settledMs).toBeLessThan(20_000);
  expect(figures.readyAfter).toBe(true);
});

function testKafka(brokers: readonly string[]): Kafka {
  return new Kafka({
    clientId: 'omnigate-test',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function countStatuses(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) {
    const { status } = JSON.parse(value) as DeliveryReceipt;
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}
