import { randomUUID } from 'node:crypto';
import { DEAD_LETTER_HEADERS, deliveryReceiptSchema } from '@omnigate/contracts';
import { buildWorkload, MALFORMED_KINDS } from '../scripts/lib/workload';
import { gatewayEnv, type ParsedReceipt } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';

/**
 * The walking skeleton end to end on the real broker: 2,000 valid commands over 3 partitions and
 * 200 customers with 50 malformed records mixed in.
 */
describe('send topic → gateway → receipts topic', () => {
  const kafka = testKafka();
  let gateway: GatewayProcess | undefined;
  const readers: TopicReader[] = [];

  afterAll(async () => {
    await gateway?.stop();
    await Promise.all(readers.map((r) => r.stop()));
  });

  it('answers every command with one receipt, in publish order per customer, and dead-letters the malformed', async () => {
    const topics = await createTestTopics(kafka, 3);
    const workload = buildWorkload({
      commands: 2000,
      customers: 200,
      malformed: 50,
      runId: randomUUID().slice(0, 8),
      maxCommandBytes: 16384,
    });
    const valid = workload.filter((r) => r.valid);
    expect(valid).toHaveLength(2000);

    gateway = await GatewayProcess.start(
      gatewayEnv(topics, { CONSUMER_CONCURRENCY: '32' }),
      'pipeline',
    );
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    const deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
    readers.push(receipts, deadLetters);

    await publish(
      kafka,
      topics.send,
      workload.map(({ key, value }) => ({ key, value })),
    );
    await receipts.waitForCount(2050, 120000);
    await deadLetters.waitForCount(50, 30000);
    // Give any stray duplicate a moment to show up before counting exactly.
    await new Promise((r) => setTimeout(r, 1500));

    const parsed = receipts.records.map((r) => deliveryReceiptSchema.parse(JSON.parse(r.value)));
    expect(parsed).toHaveLength(2050);
    const answered = parsed.filter((r) => r.status !== 'rejected');
    const rejected = parsed.filter((r) => r.status === 'rejected');
    expect(answered).toHaveLength(2000);
    expect(rejected).toHaveLength(50);
    // One receipt per valid command, and the ids of commands published, nothing else.
    expect(new Set(answered.map((r) => r.messageId))).toEqual(new Set(valid.map((r) => r.label)));
    expect(new Set(parsed.map((r) => r.eventId)).size).toBe(2050);
    // Marketing needs a consent record, and these customers have no stored profile: those are
    // suppressed with the reason; every other category is sent.
    const byCategory = new Map(
      valid.map((r) => [r.label, JSON.parse(String(r.value)) as { category: string }]),
    );
    for (const receipt of answered) {
      if (byCategory.get(receipt.messageId)?.category === 'marketing') {
        expect(receipt).toMatchObject({ status: 'suppressed', reason: { code: 'NO_CONSENT' } });
      } else {
        expect(receipt.status).toBe('sent');
        expect(receipt.provider).toBe('log');
        expect(receipt.providerMessageId).toMatch(/^log-/);
      }
    }

    // Per customer, receipts arrive in the order the commands were published.
    const publishOrder = new Map(valid.map((r, index) => [r.label, index]));
    const byCustomer = new Map<string, number[]>();
    for (const record of receipts.records) {
      const receipt = JSON.parse(record.value) as ParsedReceipt;
      if (receipt.status === 'rejected') continue;
      expect(record.key).toBe(receipt.customerId);
      const list = byCustomer.get(record.key!) ?? [];
      list.push(publishOrder.get(receipt.messageId)!);
      byCustomer.set(record.key!, list);
    }
    expect(byCustomer.size).toBe(200);
    for (const [, order] of byCustomer) {
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }

    // Every malformed record reached the dead-letter topic with its reason and its source.
    expect(deadLetters.records).toHaveLength(50);
    const reasonCodes = new Map<string, number>();
    for (const record of deadLetters.records) {
      const code = record.headers[DEAD_LETTER_HEADERS.reasonCode];
      expect(code).toBeTruthy();
      expect(record.headers[DEAD_LETTER_HEADERS.reason]?.length).toBeGreaterThan(10);
      expect(record.headers[DEAD_LETTER_HEADERS.sourceTopic]).toBe(topics.send);
      expect(record.headers[DEAD_LETTER_HEADERS.sourceOffset]).toMatch(/^\d+$/);
      reasonCodes.set(code!, (reasonCodes.get(code!) ?? 0) + 1);
    }
    expect(reasonCodes.get('INVALID_JSON')).toBe(50 / MALFORMED_KINDS.length);
    expect(reasonCodes.get('PAYLOAD_TOO_LARGE')).toBe(50 / MALFORMED_KINDS.length);
    expect(reasonCodes.get('SCHEMA_VIOLATION')).toBe((50 / MALFORMED_KINDS.length) * 3);

    // Rejections explain themselves: the field of the unknown channel and missing fields are
    // named, and no value of the payload is quoted back (the unknown channel "fax" is not).
    const reasons = rejected.map((r) => r.reason?.message ?? '');
    expect(reasons.some((m) => /channels\[1\]: unknown channel/.test(m))).toBe(true);
    expect(reasons.some((m) => m.includes('fax'))).toBe(false);
    expect(reasons.some((m) => m.includes('customerId'))).toBe(true);
    expect(reasons.some((m) => m.includes('priority'))).toBe(true);
  });
});
