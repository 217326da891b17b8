import { logLevel, type LogEntry } from 'kafkajs';
import type { KafkaLogger } from './types';

const silent: KafkaLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe('KafkaPublisher', () => {
  it('names its partitioner, so kafkajs logs nothing about its changed default', async () => {
    const warnedBefore = process.env.KAFKAJS_NO_PARTITIONER_WARNING;
    delete process.env.KAFKAJS_NO_PARTITIONER_WARNING;
    try {
      // kafkajs gives that warning once per loaded module, so load a fresh one.
      await jest.isolateModulesAsync(async () => {
        const { Kafka } = await import('kafkajs');
        const { KafkaPublisher } = await import('./publisher');
        const entries: LogEntry[] = [];
        // No broker is needed: kafkajs warns, or not, when a producer is created.
        const kafka = new Kafka({
          clientId: 'publisher-spec',
          brokers: ['127.0.0.1:1'],
          logLevel: logLevel.WARN,
          logCreator: () => (entry) => entries.push(entry),
        });
        new KafkaPublisher(kafka, silent);
        expect(entries).toEqual([]);
        // A producer that names none gets it, so the check above could have seen it.
        kafka.producer();
        expect(entries.map((entry) => entry.log.message).join('\n')).toMatch(/partitioner/);
      });
    } finally {
      if (warnedBefore !== undefined) process.env.KAFKAJS_NO_PARTITIONER_WARNING = warnedBefore;
    }
  });
});
