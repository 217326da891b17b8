import type { Admin, Kafka } from 'kafkajs';

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config?: Readonly<Record<string, string>>;
}

/** Runs `work` with a connected admin client, disconnected afterwards whatever happens. */
export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are). Used by the demo,
 * the tests and, when KAFKA_CREATE_TOPICS is on, at start-up; production clusters usually manage
 * topics elsewhere.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  return withAdmin(kafka, async (admin) => {
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
  });
}

/** Committed offsets of a group on a topic, by partition (-1 means nothing committed). */
export async function fetchCommittedOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Map<number, string>> {
  return withAdmin(kafka, async (admin) => {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  });
}

export interface PartitionLag {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** End offset minus the group's committed offset (the whole partition when nothing is committed). */
  readonly lag: number;
}

/**
 * How far each consumer group is behind on its topics, per partition: what the lag-based
 * autoscaler sees, exported as a metric so dashboards and alerts agree with it. One admin
 * connection per call; callers cache.
 */
export async function consumerGroupLag(
  kafka: Kafka,
  groups: ReadonlyArray<{ readonly groupId: string; readonly topic: string }>,
): Promise<PartitionLag[]> {
  return withAdmin(kafka, async (admin) => {
    const lags: PartitionLag[] = [];
    for (const { groupId, topic } of groups) {
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const byPartition = new Map(
        (committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
      );
      for (const end of ends) {
        const high = Number(end.high);
        const done = byPartition.get(end.partition) ?? -1;
        // -1: the group has committed nothing here; everything from the low watermark is unread.
        const from = done >= 0 ? done : Number(end.low);
        lags.push({
          group: groupId,
          topic,
          partition: end.partition,
          lag: Math.max(0, high - from),
        });
      }
    }
    return lags;
  });
}
