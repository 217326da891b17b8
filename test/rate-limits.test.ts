import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { sendCommand } from './support/commands';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

const COMMANDS = 100;
const LIMIT = 5;
const WINDOW_MS = 1000;

/** The most requests that arrived within any window of `windowMs` (a window opening at each one). */
function maxInAnyWindow(arrivals: readonly number[], windowMs: number): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  let max = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start += 1) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end += 1;
    max = Math.max(max, end - start);
  }
  return max;
}

/**
 * Two replicas share one SMS sender limited to 5/s through Redis. A burst far above the rate must
 * wait (deferred, not failed) and drain at the rate: Twilio never sees more than 5 requests in any
 * second, yet every command ends up sent.
 */
describe('provider send rates across replicas', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  const gateways: GatewayProcess[] = [];
  let suite: SandboxSuite | undefined;
  let receipts: TopicReader | undefined;

  afterAll(async () => {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  it(`drains a burst of ${COMMANDS} SMS at ${LIMIT}/s, all sent, never above the rate at Twilio`, async () => {
    suite = await SandboxSuite.start();
    const topics = await createTestTopics(kafka, 6);
    const env = gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      // One sender and no backup account: throttled work has nowhere to go but later.
      PROVIDERS_SMS: 'twilio',
      PROVIDER_TWILIO_RATE_LIMIT: `${LIMIT}/s`,
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL,
    });
    // Same topics, so the same consumer group: the replicas split the partitions. One at a time,
    // so a replica that fails to start never leaves the other running.
    for (const name of ['rate-limits-a', 'rate-limits-b']) {
      gateways.push(await GatewayProcess.start(env, name));
    }
    receipts = await new TopicReader(kafka, topics.receipts).start();

    const commands = Array.from({ length: COMMANDS }, (_, index) =>
      sendCommand({ channels: ['sms'], content: { sms: { text: `Burst message ${index}` } } }),
    );
    const ids = new Set(commands.map((command) => String(command.id)));
    const started = Date.now();
    await publish(
      kafka,
      topics.send,
      commands.map((command) => ({
        key: String(command.customerId),
        value: JSON.stringify(command),
      })),
    );

    const latest = new Map<string, DeliveryReceipt>();
    const settled = () => {
      for (const record of receipts!.records) {
        const receipt = JSON.parse(record.value) as DeliveryReceipt;
        if (ids.has(receipt.messageId)) latest.set(receipt.messageId, receipt);
      }
      const finished = [...latest.values()].filter((r) => r.status !== 'deferred');
      // A command that ended any other way than sent will not change any more: stop waiting.
      return finished.length === COMMANDS || finished.some((r) => r.status !== 'sent');
    };
    await receipts.waitFor(settled, 150_000, `a final receipt for each of ${COMMANDS} commands`);
    const drainMs = Date.now() - started;

    const statuses = new Map<string, number>();
    for (const receipt of latest.values()) {
      statuses.set(receipt.status, (statuses.get(receipt.status) ?? 0) + 1);
    }
    const notSent = [...latest.values()].filter((r) => r.status !== 'sent');
    const arrivals = suite.twilio.requests.map((request) => Date.parse(request.receivedAt));
    const maxPerWindow = maxInAnyWindow(arrivals, WINDOW_MS);
    const deferred = receipts.records.filter(
      (record) => (JSON.parse(record.value) as DeliveryReceipt).status === 'deferred',
    ).length;
    console.log(
      JSON.stringify({
        commands: COMMANDS,
        limit: `${LIMIT}/s`,
        twilioRequests: arrivals.length,
        maxRequestsInAnyWindow: maxPerWindow,
        drainMs,
        deferredReceipts: deferred,
        finalStatuses: Object.fromEntries(statuses),
        firstNotSent: notSent[0]?.reason,
      }),
    );

    expect(maxPerWindow).toBeLessThanOrEqual(LIMIT);
    expect(notSent.map((r) => [r.status, r.reason?.code])).toEqual([]);
    expect(latest.size).toBe(COMMANDS);
    expect(suite.twilio.acceptedMessages).toHaveLength(COMMANDS);
    expect(suite.twilioBackup.requests).toHaveLength(0);
    // Draining at the rate takes at least (COMMANDS / LIMIT - 1) windows.
    expect(drainMs).toBeGreaterThanOrEqual((COMMANDS / LIMIT - 1) * WINDOW_MS);
  });
});
