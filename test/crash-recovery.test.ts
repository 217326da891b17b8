import { randomUUID } from 'node:crypto';
import { isTerminalStatus } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { Client } from 'pg';
import { gatewayEnv, type ParsedReceipt } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/**
 * Three SIGKILLs while 2,500 SMS flow through a provider that fails 30% of requests with 503:
 * nothing may be lost, nothing settled twice, and the only repeated provider requests allowed are
 * those whose call was in flight at a kill. (2,500 is enough for every kill to land mid-stream with
 * calls in flight and retries waiting; more only made the suite slower.)
 */
const COMMANDS = 2500;
const CUSTOMERS = 500;
const KILL_AFTER = [500, 1200, 1850];
/** Statuses a message ends a run of the pipeline with (sent waits only for a provider report). */
const isSettled = (status: string) => status === 'sent' || isTerminalStatus(status as never);

const kafka = testKafka();
let suite: SandboxSuite | undefined;
let receipts: TopicReader | undefined;
let gateway: GatewayProcess | undefined;
const schema = uniqueSchema();

afterAll(async () => {
  await gateway?.stop();
  await receipts?.stop();
  await suite?.close();
  await dropSchema(schema);
});

async function query<T extends object>(text: string): Promise<T[]> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

it('SIGKILL three times during 2,500 commands with 30% transient provider failures: every command settles exactly once', async () => {
  suite = await SandboxSuite.start();
  suite.twilio.setFailurePlan({ latency: { minMs: 5, maxMs: 40 }, serverErrorRate: 0.3 });
  const topics = await createTestTopics(kafka, 3);
  const env = gatewayEnv(topics, {
    ...suite.gatewayEnvironment(),
    PROVIDERS_SMS: 'twilio',
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL,
    CONSUMER_CONCURRENCY: '32',
    INSTANCE_STALE_AFTER_MS: '2000',
    SCHEDULER_POLL_MS: '50',
    SCHEDULER_BATCH_SIZE: '500',
    RETRY_MAX_RETRIES: '12',
    RETRY_BASE_DELAY_MS: '50',
    RETRY_MAX_DELAY_MS: '500',
    LOG_LEVEL: 'warn',
  });
  receipts = await new TopicReader(kafka, topics.receipts).start();
  const runId = randomUUID().slice(0, 8);
  const commands = Array.from({ length: COMMANDS }, (_, i) => {
    const id = `${runId}-${String(i).padStart(5, '0')}`;
    return {
      schemaVersion: 1,
      id,
      customerId: `crash-${runId}-${i % CUSTOMERS}`,
      category: 'otp',
      channels: ['sms'],
      recipient: { phone: `+1415555${String(i % 10000).padStart(4, '0')}` },
      content: { sms: { text: `Your code for ${id} is ${1000 + (i % 9000)}` } },
    };
  });

  const settledIds = () => {
    const ids = new Set<string>();
    for (const record of receipts!.records) {
      const receipt = JSON.parse(record.value) as ParsedReceipt;
      if (isSettled(receipt.status)) ids.add(receipt.messageId);
    }
    return ids.size;
  };

  gateway = await GatewayProcess.start(env, 'crash-0');
  await publish(
    kafka,
    topics.send,
    commands.map((c) => ({ key: c.customerId, value: JSON.stringify(c) })),
  );
  const started = Date.now();
  for (const [round, threshold] of KILL_AFTER.entries()) {
    await receipts.waitFor(() => settledIds() >= threshold, 240000, `${threshold} settled`);
    gateway.kill('SIGKILL');
    await gateway.waitForExit(10000);
    const [inFlight] = await query<{ n: number }>(
      `select count(*)::int as n from "${schema}".message_attempts where outcome is null`,
    );
    console.log(
      `kill ${round + 1} after ${settledIds()} settled messages, ${inFlight?.n ?? 0} provider calls in flight`,
    );
    gateway = await GatewayProcess.start(env, `crash-${round + 1}`);
  }
  await receipts.waitFor(() => settledIds() >= COMMANDS, 240000, `all ${COMMANDS} settled`);
  const tookMs = Date.now() - started;
  // Anything still in flight to the topic (a republished batch) arrives within this.
  await new Promise((r) => setTimeout(r, 2000));

  const parsed = receipts.records.map((r) => JSON.parse(r.value) as ParsedReceipt);
  const settledEvents = new Map<string, Set<string>>();
  for (const receipt of parsed.filter((r) => isSettled(r.status))) {
    const events = settledEvents.get(receipt.messageId) ?? new Set<string>();
    events.add(receipt.eventId);
    settledEvents.set(receipt.messageId, events);
  }
  expect(settledEvents.size).toBe(COMMANDS);
  const settledTwice = [...settledEvents.values()].filter((events) => events.size > 1).length;
  expect(settledTwice).toBe(0);
  const republished = parsed.length - new Set(parsed.map((r) => r.eventId)).size;

  // No receipt the log holds is missing from the topic.
  const logged = await query<{ event_id: string }>(
    `select event_id from "${schema}".message_events`,
  );
  const onTopic = new Set(parsed.map((r) => r.eventId));
  expect(logged.filter((row) => !onTopic.has(row.event_id))).toEqual([]);

  // Repeated provider requests: accepted more than once for the same message.
  const accepted = new Map<string, number>();
  for (const request of suite.twilio.requests) {
    const body = request.body as { Body?: string };
    const id = /for (\S+) is/.exec(body.Body ?? '')?.[1];
    if (id && request.status >= 200 && request.status < 300) {
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
    }
  }
  const duplicateRequests = [...accepted.values()].reduce((sum, n) => sum + n - 1, 0);
  const [abandoned] = await query<{ n: number }>(
    `select count(*)::int as n from "${schema}".message_attempts where outcome = 'abandoned'`,
  );
  const statuses = new Map<string, number>();
  for (const receipt of parsed)
    statuses.set(receipt.status, (statuses.get(receipt.status) ?? 0) + 1);
  console.log(
    `crash test: ${COMMANDS} commands settled in ${(tookMs / 1000).toFixed(1)} s across 3 SIGKILLs; ` +
      `receipts by status ${JSON.stringify(Object.fromEntries(statuses))}; ` +
      `${republished} receipts republished (same eventId); ` +
      `${suite.twilio.requests.length} provider requests; ${duplicateRequests} duplicate provider sends; ` +
      `${abandoned?.n ?? 0} calls were in flight at the kills`,
  );
  expect(duplicateRequests).toBeLessThanOrEqual(abandoned?.n ?? 0);
}, 600000);
