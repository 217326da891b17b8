import { randomBytes, randomUUID } from 'node:crypto';
import { DEAD_LETTER_HEADERS, deliveryReceiptSchema } from '@omnigate/contracts';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import {
  DATABASE_URL,
  dropSchema,
  REDIS_URL,
  storedProfileVersion,
  uniqueSchema,
} from './support/storage';
import { until } from './support/wait';

/**
 * A record whose handling keeps failing on something that is not a dependency outage is set aside:
 * here a stored profile sealed under a key the gateway no longer has (a rotation that forgot
 * MESSAGE_LOG_PREVIOUS_KEYS). Its command is retried, then dead-lettered as HANDLER_FAILED and
 * settled FAILED; the record behind it on the same key is sent, and the process never restarts.
 */
describe('a record whose handler keeps failing', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  const gateways: GatewayProcess[] = [];
  const readers: TopicReader[] = [];

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(readers.map((r) => r.stop()));
    await dropSchema(schema);
  });

  it('is set aside as HANDLER_FAILED with a FAILED receipt, and its key moves on', async () => {
    const topics = await createTestTopics(kafka, 1);
    const storage = { DATABASE_URL, DATABASE_SCHEMA: schema, REDIS_URL };
    const first = await GatewayProcess.start(
      gatewayEnv(topics, { ...storage, MESSAGE_LOG_KEY: randomBytes(32).toString('base64') }),
      'set-aside-1',
    );
    gateways.push(first);
    const customerId = `sealed-${randomUUID().slice(0, 8)}`;
    await publish(kafka, topics.profiles, [
      {
        key: customerId,
        value: JSON.stringify({
          type: 'upsert',
          customerId,
          version: 1,
          occurredAt: new Date().toISOString(),
          profile: { phones: [{ value: '+14155550142', verified: true }] },
        }),
      },
    ]);
    await until('the profile', async () => (await storedProfileVersion(schema, customerId)) === 1);
    await first.stop();

    // A new key and no previous ones: the stored contacts no longer open.
    const second = await GatewayProcess.start(
      gatewayEnv(topics, {
        ...storage,
        MESSAGE_LOG_KEY: randomBytes(32).toString('base64'),
        CONSUMER_RECORD_MAX_ATTEMPTS: '2',
      }),
      'set-aside-2',
    );
    gateways.push(second);
    const pid = second.pid;
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    const deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
    readers.push(receipts, deadLetters);
    const stuck = `stuck-${randomUUID()}`;
    const behind = `behind-${randomUUID()}`;
    const sms = { sms: { text: 'Your code is ready' } };
    await publish(kafka, topics.send, [
      {
        key: customerId,
        value: JSON.stringify({ id: stuck, customerId, category: 'order_updates', content: sms }),
      },
      {
        key: customerId,
        value: JSON.stringify({
          id: behind,
          customerId: `other-${customerId}`,
          category: 'order_updates',
          recipient: { phone: '+14155550143' },
          content: sms,
        }),
      },
    ]);
    const receiptOf = (id: string) =>
      receipts.records
        .map((r) => deliveryReceiptSchema.parse(JSON.parse(r.value)))
        .find((r) => r.messageId === id && r.status !== 'deferred');
    await receipts.waitFor(() => !!receiptOf(stuck) && !!receiptOf(behind), 60000, 'both receipts');
    expect(receiptOf(stuck)).toMatchObject({
      status: 'failed',
      reason: {
        code: 'HANDLER_FAILED',
        message: expect.stringMatching(/failed 2 times .*SealedValueError/) as string,
      },
    });
    expect(receiptOf(behind)?.status).toBe('sent');
    await deadLetters.waitForCount(1, 30000);
    expect(deadLetters.records[0]?.headers[DEAD_LETTER_HEADERS.reasonCode]).toBe('HANDLER_FAILED');
    expect(deadLetters.records[0]?.headers[DEAD_LETTER_HEADERS.sourceTopic]).toBe(topics.send);
    // Its reason names the error's kind, not the contact it could not open.
    expect(receiptOf(stuck)?.reason?.message).not.toContain('+1415555');
    expect(second.running).toBe(true);
    expect(second.pid).toBe(pid);
  });
});
