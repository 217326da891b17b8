import { CompressionTypes, Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { KafkaLogger, OutboundRecord } from './types';

/**
 * Publishes records with acknowledgement from every in-sync replica (acks = -1), so a receipt or a
 * dead-letter record is durable before the source offset it settles is committed.
 */
export class KafkaPublisher {
  private readonly producer: Producer;
  private connecting: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly logger: KafkaLogger,
  ) {
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      // kafkajs v2's default, named so that kafkajs does not warn at every start that v1's
      // differed: murmur2 of the key as the Java client does it, so a key lands on the partition
      // any Java or kafkajs v2 producer would choose and per-customer order holds across them.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /** Idempotent; concurrent callers share one connection attempt. */
  async connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    await this.connecting;
  }

  async publish(topic: string, records: readonly OutboundRecord[]): Promise<void> {
    if (records.length === 0) return;
    // Any caller may publish first (the scheduler worker can start before the consumers).
    await this.connect();
    await this.producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.None,
      messages: records.map((record) => ({
        key: record.key,
        value: record.value,
        headers: record.headers ? { ...record.headers } : undefined,
      })),
    });
  }

  async disconnect(): Promise<void> {
    if (!this.connecting) return;
    this.connecting = undefined;
    await this.producer.disconnect();
    this.logger.info({ component: 'kafka-publisher' }, 'producer disconnected');
  }
}
