import { randomUUID } from 'node:crypto';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/**
 * A rolling update while commands flow: two gateways share the consumer group, one is stopped
 * with SIGTERM (as Kubernetes does to an old pod) and a new one joins. Every command must end with
 * exactly one terminal receipt, and the provider (the sandbox Twilio, over HTTP, through the real
 * SDK) must get exactly one request per command: nothing lost, nothing sent twice.
 */
const kafka = testKafka();
const schema = uniqueSchema();
const COMMANDS = 1500;
const TERMINAL: ReadonlySet<DeliveryReceipt['status']> = new Set([
  'sent',
  'failed',
  'suppressed',
  'capped',
  'expired',
  'rejected',
  'unknown',
]);

const gateways: GatewayProcess[] = [];
let suite: SandboxSuite;
let receipts: TopicReader;

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await receipts?.stop();
  await suite?.close();
  await dropSchema(schema);
});

it('SIGTERM on one of two gateways mid-stream: one terminal receipt and one provider request per command', async () => {
  suite = await SandboxSuite.start({ defaultPlan: { latency: { minMs: 20, maxMs: 80 } } });
  const topics = await createTestTopics(kafka, 6);
  const env = gatewayEnv(topics, {
    ...suite.gatewayEnvironment(),
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL,
    CONSUMER_CONCURRENCY: '16',
    SHUTDOWN_GRACE_MS: '15000',
  });
  receipts = await new TopicReader(kafka, topics.receipts).start();
  const start = async (name: string): Promise<GatewayProcess> => {
    const gateway = await GatewayProcess.start(env, name);
    gateways.push(gateway);
    return gateway;
  };
  const [old, stays] = await Promise.all([start('rollout-old'), start('rollout-stays')]);

  const ids = Array.from({ length: COMMANDS }, () => `cmd-${randomUUID()}`);
  // A steady stream rather than one burst: the stop lands while records keep arriving.
  const publishing = (async () => {
    for (let i = 0; i < ids.length; i += 50) {
      await publish(
        kafka,
        topics.send,
        ids.slice(i, i + 50).map((id, j) => {
          const customerId = `cust-${(i + j) % 300}`;
          return {
            key: customerId,
            value: JSON.stringify({
              id,
              customerId,
              category: 'order_updates',
              channels: ['sms'],
              recipient: { phone: `+1415555${String(1000 + ((i + j) % 9000)).padStart(4, '0')}` },
              content: { sms: { text: `Order update ${id}` } },
            }),
          };
        }),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  await receipts.waitForCount(400, 60000);
  const stoppedAt = Date.now();
  old.kill('SIGTERM');
  const exit = await old.waitForExit(20000);
  const drainMs = Date.now() - stoppedAt;
  expect(exit).toEqual({ code: 0, signal: null });
  // The new pod of the rollout joins while the other one carries the load.
  await start('rollout-new');
  await publishing;

  const terminalOf = (r: { value: string }): DeliveryReceipt | undefined => {
    const receipt = JSON.parse(r.value) as DeliveryReceipt;
    return TERMINAL.has(receipt.status) ? receipt : undefined;
  };
  await receipts.waitFor(
    (records) => new Set(records.flatMap((r) => terminalOf(r)?.messageId ?? [])).size >= COMMANDS,
    180000,
    `a terminal receipt for each of ${COMMANDS} commands`,
  );
  // Time for any late duplicate to show up before counting.
  await new Promise((r) => setTimeout(r, 3000));

  const terminal = new Map<string, number>();
  for (const record of receipts.records) {
    const receipt = terminalOf(record);
    if (receipt) terminal.set(receipt.messageId, (terminal.get(receipt.messageId) ?? 0) + 1);
  }
  const requests = new Map<string, number>();
  for (const message of suite.twilio.acceptedMessages) {
    const id = /Order update (cmd-[0-9a-f-]+)/.exec(String(message.Body))?.[1];
    if (id) requests.set(id, (requests.get(id) ?? 0) + 1);
  }
  const missing = ids.filter((id) => !terminal.has(id));
  const twiceReceipted = ids.filter((id) => (terminal.get(id) ?? 0) > 1);
  const twiceSent = ids.filter((id) => (requests.get(id) ?? 0) > 1);
  const neverSent = ids.filter((id) => !requests.has(id));
  console.log(
    `rollout: SIGTERM drained in ${drainMs} ms; ${terminal.size} commands answered; ` +
      `${suite.twilio.requests.length} provider requests; ` +
      `missing ${missing.length}, second terminal receipt ${twiceReceipted.length}, ` +
      `sent twice ${twiceSent.length}, never sent ${neverSent.length}; ` +
      `receipts by status ${JSON.stringify(countStatuses(receipts.records))}`,
  );
  expect(missing).toEqual([]);
  expect(twiceReceipted).toEqual([]);
  expect(twiceSent).toEqual([]);
  expect(neverSent).toEqual([]);
  // The pod that stayed carried the load through the handover and is still a ready member.
  expect((await fetch(`http://127.0.0.1:${stays.port}/health/ready`)).status).toBe(200);
});

function countStatuses(records: ReadonlyArray<{ value: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const record of records) {
    const { status } = JSON.parse(record.value) as DeliveryReceipt;
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}
