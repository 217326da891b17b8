import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config?: Readonly<Record<string, string>>;
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are). Used by the demo,
 * the tests and, when KAFKA_CREATE_TOPICS is on, at start-up; production clusters usually manage
 * topics elsewhere.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: spec.topic,
          numPartitions: spec.partitions,
          replicationFactor: spec.replicationFactor,
          configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
    }
    return missing.map((spec) => spec.topic);
  } finally {
    await admin.disconnect();
  }
}

/** Committed offsets of a group on a topic, by partition (-1 means nothing committed). */
export async function fetchCommittedOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}
