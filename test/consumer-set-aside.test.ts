import { randomUUID } from 'node:crypto';
import {
  ConsumerRunner,
  createKafkaClient,
  fetchCommittedOffsets,
  type HandlerFailure,
  type InboundRecord,
  type KafkaLogger,
} from '@omnigate/kafka';
import { isDependencyFailure } from '../src/repositories/dependency-failure';
import { BROKERS, publish, testKafka } from './support/kafka';
import { until } from './support/wait';

/**
 * The consumer runner on the real broker, with a handler that fails on purpose: a record failing
 * on itself is retried in place and then set aside, the key's later records wait for it and then
 * run in order, a dependency failure is retried with the batch and never set aside, and the
 * committed offset moves past everything.
 */
describe('ConsumerRunner sets aside a record whose handler keeps failing', () => {
  const quiet: KafkaLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

  it('retries in place, sets it aside, keeps key order, and commits past it', async () => {
    const topic = `test.set-aside.${randomUUID().slice(0, 8)}`;
    const groupId = `set-aside-${randomUUID().slice(0, 8)}`;
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    });

    const handled: string[] = [];
    const attempts = new Map<string, number>();
    const setAside: Array<{ value: string; failure: HandlerFailure }> = [];
    const handler = async (record: InboundRecord): Promise<void> => {
      const value = record.value?.toString() ?? '';
      const attempt = (attempts.get(value) ?? 0) + 1;
      attempts.set(value, attempt);
      await Promise.resolve();
      if (value === 'poison')
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      // A dependency outage for the first two tries: retried with the batch, never set aside.
      if (value === 'outage' && attempt <= 2) {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
          code: 'ECONNREFUSED',
        });
      }
      handled.push(value);
    };
    const fatal: Error[] = [];
    const runner = new ConsumerRunner(
      createKafkaClient({ clientId: 'set-aside-test', brokers: BROKERS }, quiet),
      {
        groupId,
        topics: [topic],
        concurrency: 8,
        partitionsConsumedConcurrently: 1,
        sessionTimeoutMs: 10000,
        heartbeatIntervalMs: 1000,
        maxConsecutiveFailures: 20,
        fromBeginning: true,
        commitIntervalMs: 200,
        commitThreshold: 1,
        poison: {
          maxAttempts: 3,
          giveUpAfterMs: 10000,
          isDependencyFailure,
          setAside: (record, failure) => {
            setAside.push({ value: record.value?.toString() ?? '', failure });
            return Promise.resolve();
          },
        },
      },
      handler,
      quiet,
      (error) => fatal.push(error),
    );
    try {
      await publish(testKafka(), topic, [
        { key: 'k', value: 'first' },
        { key: 'k', value: 'poison' },
        { key: 'k', value: 'after-poison' },
        { key: 'other', value: 'outage' },
        { key: 'k', value: 'last' },
      ]);
      await runner.start();
      await until('the four good records handled', () => handled.length >= 4, 30000);
      expect(handled.filter((v) => v !== 'outage')).toEqual(['first', 'after-poison', 'last']);
      expect(handled.filter((v) => v === 'outage')).toHaveLength(1);
      expect(setAside).toHaveLength(1);
      expect(setAside[0]).toMatchObject({
        value: 'poison',
        failure: { attempts: 3, error: { name: 'TypeError' } },
      });
      expect(attempts.get('poison')).toBe(3);
      expect(attempts.get('outage')).toBe(3);
      expect(fatal).toEqual([]);
      await runner.stop();
      const committed = await fetchCommittedOffsets(testKafka(), groupId, topic);
      expect(committed.get(0)).toBe('5');
    } finally {
      await runner.stop();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
