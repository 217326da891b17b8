import { randomUUID } from 'node:crypto';
import { fetchCommittedOffsets } from '@omnigate/kafka';
import { buildWorkload } from '../scripts/lib/workload';
import { gatewayEnv, type ParsedReceipt } from './support/env';
import { GatewayProcess } from './support/gateway';
import { DATABASE_URL, dropSchema, uniqueSchema } from './support/storage';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type ReadRecord,
} from './support/kafka';

const kafka = testKafka();
const readers: TopicReader[] = [];
const gateways: GatewayProcess[] = [];

const schemas: string[] = [];

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await Promise.all(readers.map((r) => r.stop()));
  await Promise.all(schemas.map((schema) => dropSchema(schema)));
});

function countByMessage(records: readonly ReadRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    const { messageId } = JSON.parse(record.value) as ParsedReceipt;
    counts.set(messageId, (counts.get(messageId) ?? 0) + 1);
  }
  return counts;
}

async function startGateway(env: Record<string, string>, name: string): Promise<GatewayProcess> {
  const gateway = await GatewayProcess.start(env, name);
  gateways.push(gateway);
  return gateway;
}

describe('stopping the gateway', () => {
  it('SIGTERM drains in-flight work, commits, exits 0 within the grace period, and nothing committed is redone', async () => {
    const topics = await createTestTopics(kafka, 3);
    const workload = buildWorkload({
      commands: 3000,
      customers: 300,
      malformed: 0,
      runId: randomUUID().slice(0, 8),
      maxCommandBytes: 16384,
    });
    const schema = uniqueSchema();
    schemas.push(schema);
    // A provider that takes 25 ms keeps the stream busy long enough to stop it mid-way.
    const env = gatewayEnv(topics, {
      CONSUMER_CONCURRENCY: '16',
      LOG_ADAPTER_LATENCY_MS: '25',
      SHUTDOWN_GRACE_MS: '15000',
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
    });
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    readers.push(receipts);

    const first = await startGateway(env, 'sigterm-first');
    await publish(
      kafka,
      topics.send,
      workload.map(({ key, value }) => ({ key, value })),
    );
    await receipts.waitForCount(400, 60000);

    const stoppedAt = Date.now();
    first.kill('SIGTERM');
    const exit = await first.waitForExit(20000);
    const drainMs = Date.now() - stoppedAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(drainMs).toBeLessThan(15000);

    // What the first process finished is exactly what its group committed, and the outbox was
    // published before it exited. The reader may lag a loaded machine by a moment.
    const committed = await fetchCommittedOffsets(kafka, env.KAFKA_GROUP_ID!, topics.send);
    const committedTotal = [...committed.values()].reduce(
      (sum, offset) => sum + Math.max(0, Number(offset)),
      0,
    );
    await receipts
      .waitFor((r) => r.length >= committedTotal, 10000, `${committedTotal} receipts`)
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const processedBeforeStop = receipts.records.length;
    expect(processedBeforeStop).toBeLessThan(3000);
    expect(committedTotal).toBe(processedBeforeStop);

    await startGateway(env, 'sigterm-second');
    await receipts.waitForCount(3000, 120000);
    await new Promise((r) => setTimeout(r, 1500));
    const counts = countByMessage(receipts.records);
    expect(counts.size).toBe(3000);
    expect([...counts.values()].filter((n) => n > 1)).toHaveLength(0);
    console.log(
      `SIGTERM: drained in ${drainMs} ms after ${processedBeforeStop} receipts; restart redid 0 commands`,
    );
  });

  it('SIGKILL mid-stream loses nothing: after a restart every command has exactly one receipt', async () => {
    const topics = await createTestTopics(kafka, 3);
    const workload = buildWorkload({
      commands: 3000,
      customers: 300,
      malformed: 30,
      runId: randomUUID().slice(0, 8),
      maxCommandBytes: 16384,
    });
    const schema = uniqueSchema();
    schemas.push(schema);
    // The message log must outlive the process, so this runs on PostgreSQL.
    const env = gatewayEnv(topics, {
      CONSUMER_CONCURRENCY: '16',
      LOG_ADAPTER_LATENCY_MS: '25',
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      INSTANCE_STALE_AFTER_MS: '2000',
    });
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    readers.push(receipts);

    const first = await startGateway(env, 'sigkill-first');
    await publish(
      kafka,
      topics.send,
      workload.map(({ key, value }) => ({ key, value })),
    );
    // An odd count, so the kill lands inside a batch rather than on a commit boundary.
    await receipts.waitForCount(1237, 60000);
    first.kill('SIGKILL');
    const exit = await first.waitForExit(10000);
    expect(exit.signal).toBe('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const beforeKill = receipts.records.length;
    const committed = await fetchCommittedOffsets(kafka, env.KAFKA_GROUP_ID!, topics.send);
    const committedAtKill = [...committed.values()].reduce(
      (sum, offset) => sum + Math.max(0, Number(offset)),
      0,
    );

    await startGateway(env, 'sigkill-second');
    const expected = workload.length;
    await receipts.waitFor(
      (r) => countByMessage(r).size >= expected,
      120000,
      `a receipt for each of ${expected} records`,
    );
    await new Promise((r) => setTimeout(r, 1500));

    const counts = countByMessage(receipts.records);
    expect(counts.size).toBe(expected);
    for (const record of workload.filter((r) => r.valid))
      expect(counts.has(record.label)).toBe(true);
    // Consumers deduplicate on eventId: a batch the relay published just before the kill, but had
    // not yet marked, is published again with the same ids.
    const eventsByMessage = new Map<string, Set<string>>();
    for (const record of receipts.records) {
      const { messageId, eventId } = JSON.parse(record.value) as ParsedReceipt;
      eventsByMessage.set(messageId, (eventsByMessage.get(messageId) ?? new Set()).add(eventId));
    }
    const settledTwice = [...eventsByMessage.values()].filter((ids) => ids.size > 1).length;
    const republished = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    console.log(
      `SIGKILL: killed after ${beforeKill} receipts with ${committedAtKill} offsets committed; ` +
        `${settledTwice} of ${expected} commands got a second distinct receipt; ` +
        `${republished} receipts were published again with the same eventId`,
    );
    // Redelivered records find their claim in the message log, and a redone step writes the same
    // eventId, which the outbox keeps once: one receipt per command.
    expect(settledTwice).toBe(0);
  });
});
