import { randomUUID } from 'node:crypto';
import {
  DEAD_LETTER_HEADERS,
  deliveryReceiptSchema,
  type DeliveryReceipt,
} from '@omnigate/contracts';
import fc from 'fast-check';
import { commandRecord } from './support/command-arbitraries';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';

/**
 * No record can stop a partition: poison records on the send topic and on the priority lane are
 * dead-lettered with a reason and a REJECTED receipt, the records behind them on the same
 * partition are processed, and the gateway never restarts. Then 1,000 generated records (valid,
 * broken in every way, raw bytes) through the real pipeline: every one is answered.
 */
describe('poison records', () => {
  const kafka = testKafka();
  let gateway: GatewayProcess | undefined;
  let topics: TestTopics;
  let priorityTopic: string;
  let receipts: TopicReader;
  let deadLetters: TopicReader;
  let pid: number | undefined;

  beforeAll(async () => {
    // One partition: every record below shares it, so a stuck record would hold all the rest.
    topics = await createTestTopics(kafka, 1);
    priorityTopic = `test.priority.${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: priorityTopic, numPartitions: 1, replicationFactor: 1 }],
      });
    } finally {
      await admin.disconnect();
    }
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        TOPIC_SEND_PRIORITY: priorityTopic,
        MAX_COMMAND_BYTES: '1048576',
        CONSUMER_CONCURRENCY: '32',
      }),
      'poison-records',
    );
    pid = gateway.pid;
    receipts = await new TopicReader(kafka, topics.receipts).start();
    deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
  });

  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([receipts?.stop(), deadLetters?.stop()]);
  });

  const parsedReceipts = (): DeliveryReceipt[] =>
    receipts.records.map((r) => deliveryReceiptSchema.parse(JSON.parse(r.value)));

  it('dead-letters 2,000-deep template data and a 5,000-deep value on both lanes, and moves on', async () => {
    const run = randomUUID().slice(0, 8);
    const customerId = `poison-${run}`;
    const valid = (id: string, category: string) =>
      JSON.stringify({
        id,
        customerId,
        category,
        recipient: { phone: '+14155550123' },
        content: { sms: { text: 'still here' } },
      });
    const deepTemplate = (id: string, category: string) =>
      `{"id":"${id}","customerId":"${customerId}","category":"${category}","template":{"id":"welcome","data":{"x":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}}}`;
    const deepTop = `{"id":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const lane = (prefix: string, category: string) => [
      { key: customerId, value: valid(`${prefix}-before`, category) },
      { key: customerId, value: deepTemplate(`${prefix}-deep-template`, category) },
      { key: customerId, value: valid(`${prefix}-between`, category) },
      { key: customerId, value: deepTop },
      { key: customerId, value: valid(`${prefix}-after`, category) },
    ];
    await publish(kafka, topics.send, lane(`send-${run}`, 'order_updates'));
    await publish(kafka, priorityTopic, lane(`prio-${run}`, 'otp'));

    await receipts.waitFor(
      () => parsedReceipts().filter((r) => r.customerId === customerId).length >= 10,
      60000,
      'ten receipts of the poison customer',
    );
    const mine = parsedReceipts().filter((r) => r.customerId === customerId);
    for (const prefix of [`send-${run}`, `prio-${run}`]) {
      for (const suffix of ['before', 'between', 'after']) {
        expect(mine.find((r) => r.messageId === `${prefix}-${suffix}`)?.status).toBe('sent');
      }
    }
    const rejected = mine.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(4);
    // Too deep to read an id from (the depth is checked before parsing): the record's position
    // names the message, and the record key the customer.
    for (const receipt of rejected) {
      expect(receipt).toMatchObject({ reason: { code: 'SCHEMA_VIOLATION' } });
      expect(receipt.reason?.message).toMatch(/nested more than 32/);
      expect(receipt.messageId).toMatch(/^kafka:test\.(send|priority)\./);
    }

    await deadLetters.waitForCount(4, 30000);
    const sources = deadLetters.records.map((r) => r.headers[DEAD_LETTER_HEADERS.sourceTopic]);
    expect(sources.sort()).toEqual([priorityTopic, priorityTopic, topics.send, topics.send].sort());
    for (const record of deadLetters.records) {
      expect(record.headers[DEAD_LETTER_HEADERS.reasonCode]).toBe('SCHEMA_VIOLATION');
    }
    // The same process all along: nothing crashed and restarted.
    expect(gateway?.running).toBe(true);
    expect(gateway?.pid).toBe(pid);
  });

  it('answers each of 1,000 generated records, dead-letters the malformed with a reason, and never stalls', async () => {
    const run = randomUUID().slice(0, 8);
    const generated = fc.sample(commandRecord(`fuzz${run}`), { numRuns: 1000, seed: 4122026 });
    const receiptsBefore = receipts.records.length;
    const deadBefore = deadLetters.records.length;
    const startedAt = Date.now();
    await publish(
      kafka,
      topics.send,
      generated.map((record, index) => ({ key: `fuzz-${run}-${index % 50}`, value: record.value })),
      100,
    );
    // Deferred receipts are progress notes; every record gets exactly one answer besides them.
    const answers = () =>
      parsedReceipts()
        .slice(receiptsBefore)
        .filter((r) => r.status !== 'deferred');
    await receipts.waitFor(() => answers().length >= 1000, 150000, '1,000 answers');
    const elapsedMs = Date.now() - startedAt;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const answered = answers();
    expect(answered).toHaveLength(1000);
    expect(new Set(answered.map((r) => r.eventId)).size).toBe(1000);

    const rejected = answered.filter((r) => r.status === 'rejected');
    const dead = deadLetters.records.slice(deadBefore);
    expect(dead).toHaveLength(rejected.length);
    for (const record of dead) {
      expect(record.headers[DEAD_LETTER_HEADERS.reasonCode]).toMatch(/^[A-Z_]+$/);
      expect(record.headers[DEAD_LETTER_HEADERS.reason]?.length).toBeGreaterThan(0);
    }
    for (const receipt of rejected) expect(receipt.reason?.message.length).toBeGreaterThan(0);
    // Every rejection is decode's or intake's own answer: no record crashed its handler.
    for (const receipt of rejected) {
      expect([
        'EMPTY_PAYLOAD',
        'PAYLOAD_TOO_LARGE',
        'INVALID_ENCODING',
        'INVALID_JSON',
        'SCHEMA_VIOLATION',
        'ID_CONFLICT',
      ]).toContain(receipt.reason?.code);
    }
    const statuses: Record<string, number> = {};
    for (const receipt of answered) statuses[receipt.status] = (statuses[receipt.status] ?? 0) + 1;
    console.log(
      `1,000 generated records answered in ${elapsedMs} ms: ${JSON.stringify(statuses)}; ${dead.length} dead-lettered`,
    );
    expect(rejected.length).toBeGreaterThan(300);
    expect(gateway?.running).toBe(true);
    expect(gateway?.pid).toBe(pid);
  });
});
