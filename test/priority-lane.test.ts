import { randomUUID } from 'node:crypto';
import { DEAD_LETTER_HEADERS, type DeliveryReceipt } from '@omnigate/contracts';
import { fetchCommittedOffsets } from '@omnigate/kafka';
import { SandboxSuite } from '@omnigate/sandbox';
import { sendCommand } from './support/commands';
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
 * The priority lane: a second send topic, consumed by its own group through the same intake. Its
 * commands are dispatched through the real SDKs to the sandbox, and its malformed records are
 * dead-lettered with a REJECTED receipt exactly as on the send topic.
 */
describe('priority lane topic → gateway → receipts topic', () => {
  const kafka = testKafka();
  let suite: SandboxSuite;
  let topics: TestTopics;
  let priorityTopic: string;
  let env: Record<string, string>;
  let gateway: GatewayProcess | undefined;
  let receipts: TopicReader;
  let deadLetters: TopicReader;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    topics = await createTestTopics(kafka, 3);
    // Its own topic per run; the gateway is told its name, since a renamed TOPIC_SEND turns the
    // default lane off.
    priorityTopic = `test.priority.${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: priorityTopic, numPartitions: 2, replicationFactor: 1 }],
      });
    } finally {
      await admin.disconnect();
    }
    env = gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      TOPIC_SEND_PRIORITY: priorityTopic,
      PRIORITY_CONSUMER_CONCURRENCY: '4',
    });
    gateway = await GatewayProcess.start(env, 'priority-lane');
    receipts = await new TopicReader(kafka, topics.receipts).start();
    deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
  });

  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([receipts?.stop(), deadLetters?.stop()]);
    await suite?.close();
  });

  const receiptOf = (messageId: string): DeliveryReceipt | undefined =>
    receipts.records
      .map((r) => JSON.parse(r.value) as DeliveryReceipt)
      .find((r) => r.messageId === messageId);

  it('reports the lane as its own consumer in readiness', async () => {
    const response = await fetch(`http://127.0.0.1:${gateway!.port}/health/ready`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { consumers: Record<string, string> };
    expect(body.consumers).toEqual({
      send: 'joined',
      priority: 'joined',
      profiles: 'joined',
      'provider-events': 'joined',
      cancel: 'joined',
    });
  });

  it('dispatches an OTP command from the priority topic and publishes its receipt', async () => {
    const text = 'Your code is 482913. It expires in 10 minutes.';
    const command = sendCommand({
      category: 'otp',
      priority: 'high',
      channels: ['sms'],
      content: { sms: { text } },
    });
    const id = String(command.id);
    await publish(kafka, priorityTopic, [
      { key: String(command.customerId), value: JSON.stringify(command) },
    ]);
    await receipts.waitFor(() => receiptOf(id) !== undefined, 30000, `the receipt of ${id}`);

    expect(receiptOf(id)).toMatchObject({
      status: 'sent',
      channel: 'sms',
      provider: 'twilio',
      customerId: command.customerId,
    });
    const sent = suite.twilio.acceptedMessages.find((m) => m.Body === text);
    expect(sent).toMatchObject({ To: '+14155550142', From: SandboxSuite.SENDERS.sms });
    // The lane commits in its own group (derived from KAFKA_GROUP_ID), not in the send group's.
    await waitForCommit(`${env.KAFKA_GROUP_ID}-priority`, priorityTopic);
  });

  it('dead-letters a malformed record from the priority topic with a REJECTED receipt', async () => {
    const key = `cust-${randomUUID().slice(0, 8)}`;
    await publish(kafka, priorityTopic, [{ key, value: '{"id": "otp-1", "customerId": oops' }]);
    await deadLetters.waitFor(
      (records) =>
        records.some((r) => r.headers[DEAD_LETTER_HEADERS.sourceTopic] === priorityTopic),
      30000,
      'the dead-lettered priority record',
    );
    const dead = deadLetters.records.find(
      (r) => r.headers[DEAD_LETTER_HEADERS.sourceTopic] === priorityTopic,
    )!;
    expect(dead.key).toBe(key);
    expect(dead.headers[DEAD_LETTER_HEADERS.reasonCode]).toBe('INVALID_JSON');
    expect(dead.headers[DEAD_LETTER_HEADERS.sourceOffset]).toMatch(/^\d+$/);

    // The rejection names the record by its place in the priority topic.
    const partition = dead.headers[DEAD_LETTER_HEADERS.sourcePartition];
    const offset = dead.headers[DEAD_LETTER_HEADERS.sourceOffset];
    const messageId = `kafka:${priorityTopic}:${partition}:${offset}`;
    await receipts.waitFor(
      () => receiptOf(messageId) !== undefined,
      30000,
      `the REJECTED receipt of ${messageId}`,
    );
    expect(receiptOf(messageId)).toMatchObject({
      status: 'rejected',
      customerId: key,
      reason: { code: 'INVALID_JSON' },
    });
  });

  it('keeps the send topic working for everything alongside the lane', async () => {
    const command = sendCommand({ channels: ['sms'], content: { sms: { text: 'Shipped.' } } });
    const id = String(command.id);
    await publish(kafka, topics.send, [
      { key: String(command.customerId), value: JSON.stringify(command) },
    ]);
    await receipts.waitFor(() => receiptOf(id) !== undefined, 30000, `the receipt of ${id}`);
    expect(receiptOf(id)).toMatchObject({ status: 'sent', channel: 'sms' });
  });

  async function waitForCommit(groupId: string, topic: string): Promise<void> {
    const deadline = Date.now() + 15000;
    for (;;) {
      const committed = await fetchCommittedOffsets(kafka, groupId, topic);
      if ([...committed.values()].some((offset) => Number(offset) > 0)) return;
      if (Date.now() > deadline) throw new Error(`${groupId} committed nothing on ${topic}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
});
