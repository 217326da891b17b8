import { Kafka, logLevel, type Consumer, type IHeaders } from 'kafkajs';
import { randomUUID } from 'node:crypto';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'omnigate-test', brokers: BROKERS, logLevel: logLevel.NOTHING });
}

export interface TestTopics {
  readonly send: string;
  readonly receipts: string;
  readonly deadLetter: string;
  readonly profiles: string;
  readonly providerEvents: string;
  readonly cancel: string;
}

/** Fresh topics per test so runs never see each other's records. */
export async function createTestTopics(kafka: Kafka, partitions = 3): Promise<TestTopics> {
  const suffix = randomUUID().slice(0, 8);
  const topics = {
    send: `test.send.${suffix}`,
    receipts: `test.receipts.${suffix}`,
    deadLetter: `test.dlq.${suffix}`,
    profiles: `test.profiles.${suffix}`,
    providerEvents: `test.provider-events.${suffix}`,
    cancel: `test.cancel.${suffix}`,
  };
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: 1,
      })),
    });
  } finally {
    await admin.disconnect();
  }
  return topics;
}

export interface PublishedRecord {
  readonly key: string | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export async function publish(
  kafka: Kafka,
  topic: string,
  records: readonly PublishedRecord[],
  chunk = 500,
): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += chunk) {
      await producer.send({
        topic,
        acks: -1,
        messages: records.slice(i, i + chunk).map((r) => ({
          key: r.key,
          value: r.value,
          ...(r.headers && { headers: { ...r.headers } }),
        })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value.toString();
  }
  return out;
}

/** Reads a topic from the beginning in the background; `waitFor` resolves when enough arrived. */
export class TopicReader {
  readonly records: ReadRecord[] = [];
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
  ) {}

  async start(): Promise<this> {
    this.consumer = this.kafka.consumer({
      groupId: `reader-${randomUUID()}`,
      sessionTimeout: 10000,
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: ({ partition, message }) => {
        this.records.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? '',
          headers: headersToStrings(message.headers),
        });
        return Promise.resolve();
      },
    });
    return this;
  }

  async waitFor(
    predicate: (records: ReadRecord[]) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.records)) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what} on ${this.topic} (have ${this.records.length} records)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async waitForCount(count: number, timeoutMs: number): Promise<void> {
    await this.waitFor((r) => r.length >= count, timeoutMs, `${count} records`);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
