import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { KafkaLogger, OutboundRecord } from './types';

/**
 * Publishes records with acknowledgement from every in-sync replica (acks = -1), so a receipt or a
 * dead-letter record is durable before the source offset it settles is committed.
 */
export class KafkaPublisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly logger: KafkaLogger,
  ) {
    this.producer = kafka.producer({ allowAutoTopicCreation: false });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  async publish(topic: string, records: readonly OutboundRecord[]): Promise<void> {
    if (records.length === 0) return;
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
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
    this.logger.info({ component: 'kafka-publisher' }, 'producer disconnected');
  }
}
