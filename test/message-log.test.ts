import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEAD_LETTER_HEADERS } from '@omnigate/contracts';
import { Client } from 'pg';
import { sendCommand } from './support/commands';
import { gatewayEnv, type ParsedReceipt } from './support/env';
import { GatewayProcess, OUTPUT_DIR } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import { DATABASE_URL, dropSchema, uniqueSchema } from './support/storage';

/**
 * The message log against the real broker and PostgreSQL: a command id is sent once however often
 * it is published, and a receipt written before a crash is published after it.
 */
const kafka = testKafka();
const gateways: GatewayProcess[] = [];
const readers: TopicReader[] = [];
const schemas: string[] = [];

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await Promise.all(readers.map((r) => r.stop()));
  await Promise.all(schemas.map((s) => dropSchema(s)));
});

async function startGateway(env: Record<string, string>, name: string): Promise<GatewayProcess> {
  const gateway = await GatewayProcess.start(env, name);
  gateways.push(gateway);
  return gateway;
}

async function reader(topic: string): Promise<TopicReader> {
  const started = await new TopicReader(kafka, topic).start();
  readers.push(started);
  return started;
}

const receiptsOf = (records: TopicReader['records'], messageId: string): ParsedReceipt[] =>
  records.map((r) => JSON.parse(r.value) as ParsedReceipt).filter((r) => r.messageId === messageId);

function sendsRecorded(file: string, messageId: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { messageId: string })
    .filter((send) => send.messageId === messageId).length;
}

async function query<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

function storageEnv(topics: TestTopics, extra: Record<string, string> = {}) {
  const schema = uniqueSchema();
  schemas.push(schema);
  return {
    schema,
    env: gatewayEnv(topics, {
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      INSTANCE_STALE_AFTER_MS: '2000',
      ...extra,
    }),
  };
}

describe('idempotent intake', () => {
  it('sends a command published three times once, the last copy after a rebalance; repeats get DUPLICATE, a changed payload is rejected', async () => {
    const topics = await createTestTopics(kafka, 3);
    const recordFile = join(OUTPUT_DIR, `idempotency-${randomUUID()}.jsonl`);
    const { env } = storageEnv(topics, { LOG_ADAPTER_RECORD_FILE: recordFile });
    const receipts = await reader(topics.receipts);
    const deadLetters = await reader(topics.deadLetter);
    await startGateway(env, 'idempotency-a');

    const command = sendCommand({
      channels: ['sms'],
      content: { sms: { text: 'Your code is 4711' } },
    });
    const id = command.id as string;
    const key = command.customerId as string;
    const copy = { key, value: JSON.stringify(command) };

    await publish(kafka, topics.send, [copy]);
    await receipts.waitFor((r) => receiptsOf(r, id).length >= 1, 30000, 'the first receipt');
    await publish(kafka, topics.send, [copy]);
    await receipts.waitFor((r) => receiptsOf(r, id).length >= 2, 30000, 'the first duplicate');

    // A second instance joins the group: the partitions are shared out again.
    await startGateway(env, 'idempotency-b');
    await publish(kafka, topics.send, [copy]);
    await receipts.waitFor((r) => receiptsOf(r, id).length >= 3, 30000, 'the second duplicate');

    // The same id with another payload is not a copy: rejected, and dead-lettered with the reason.
    const changed = { ...command, content: { sms: { text: 'Your code is 9999' } } };
    await publish(kafka, topics.send, [{ key, value: JSON.stringify(changed) }]);
    await receipts.waitFor((r) => receiptsOf(r, id).length >= 4, 30000, 'the rejection');
    await deadLetters.waitForCount(1, 30000);
    await new Promise((r) => setTimeout(r, 1500));

    const statuses = receiptsOf(receipts.records, id).map((r) => r.status);
    expect(statuses).toEqual(['sent', 'duplicate', 'duplicate', 'rejected']);
    const eventIds = receiptsOf(receipts.records, id).map((r) => r.eventId);
    expect(new Set(eventIds).size).toBe(4);
    expect(receiptsOf(receipts.records, id)[3]!.reason?.code).toBe('ID_CONFLICT');
    expect(deadLetters.records[0]!.headers[DEAD_LETTER_HEADERS.reasonCode]).toBe('ID_CONFLICT');
    expect(sendsRecorded(recordFile, id)).toBe(1);
  });
});

describe('receipts outbox', () => {
  it('publishes after a restart the receipts a killed process had written but not published', async () => {
    // No receipts topic yet: every receipt stays in the outbox, as when Kafka is unreachable.
    const suffix = randomUUID().slice(0, 8);
    const topics: TestTopics = {
      send: `test.send.${suffix}`,
      receipts: `test.receipts.${suffix}`,
      deadLetter: `test.dlq.${suffix}`,
      profiles: `test.profiles.${suffix}`,
      providerEvents: `test.provider-events.${suffix}`,
      cancel: `test.cancel.${suffix}`,
    };
    const admin = kafka.admin();
    await admin.connect();
    const create = (names: string[]) =>
      admin.createTopics({
        waitForLeaders: true,
        topics: names.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })),
      });
    await create([
      topics.send,
      topics.deadLetter,
      topics.profiles,
      topics.providerEvents,
      topics.cancel,
    ]);
    const { env, schema } = storageEnv(topics);

    const first = await startGateway(env, 'outbox-first');
    const commands = Array.from({ length: 20 }, () =>
      sendCommand({ channels: ['sms'], content: { sms: { text: 'Parcel on its way' } } }),
    );
    await publish(
      kafka,
      topics.send,
      commands.map((c) => ({ key: c.customerId as string, value: JSON.stringify(c) })),
    );
    const deadline = Date.now() + 60000;
    let pending = 0;
    while (Date.now() < deadline) {
      const [row] = await query<{ pending: number }>(
        `select count(*)::int as pending from "${schema}".unpublished_receipts`,
      );
      pending = row?.pending ?? 0;
      if (pending >= commands.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(pending).toBe(commands.length);

    first.kill('SIGKILL');
    await first.waitForExit(10000);
    await create([topics.receipts]);
    await admin.disconnect();
    const receipts = await reader(topics.receipts);

    await startGateway(env, 'outbox-second');
    await receipts.waitForCount(commands.length, 60000);
    await new Promise((r) => setTimeout(r, 1500));

    const published = receipts.records.map((r) => JSON.parse(r.value) as ParsedReceipt);
    expect(published).toHaveLength(commands.length);
    expect(new Set(published.map((r) => r.messageId))).toEqual(
      new Set(commands.map((c) => c.id as string)),
    );
    expect(published.every((r) => r.status === 'sent')).toBe(true);
    const [left] = await query<{ pending: number }>(
      `select count(*)::int as pending from "${schema}".unpublished_receipts`,
    );
    expect(left?.pending).toBe(0);
  });
});
