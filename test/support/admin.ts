import { createHash, randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { ParsedReceipt } from './env';
import { publish, type TestTopics, type TopicReader } from './kafka';
import { storedProfileVersion } from './storage';
import { until } from './wait';

export type AdminRoleName = 'viewer' | 'agent' | 'admin';

/** One fresh API key per role, and the ADMIN_API_KEYS value that stores only their hashes. */
export function adminApiKeys(): { secrets: Record<AdminRoleName, string>; env: string } {
  const roles: AdminRoleName[] = ['viewer', 'agent', 'admin'];
  const secrets = Object.fromEntries(
    roles.map((role) => [role, randomBytes(24).toString('base64url')]),
  ) as Record<AdminRoleName, string>;
  const env = JSON.stringify(
    roles.map((role) => ({
      id: `key-${role}`,
      role,
      sha256: createHash('sha256').update(secrets[role]).digest('hex'),
    })),
  );
  return { secrets, env };
}

/**
 * Publishes a customer's profile and one command, and waits until the profile is stored and the
 * command's SENT receipt is on the receipts topic: the state every admin test starts from.
 */
export async function seedCustomerWithMessage(options: {
  readonly kafka: Kafka;
  readonly topics: TestTopics;
  readonly receipts: TopicReader;
  readonly schema: string;
  readonly customerId: string;
  readonly profile: Record<string, unknown>;
  readonly command: Record<string, unknown> & { id: string };
}): Promise<void> {
  const { kafka, topics, receipts, schema, customerId, command } = options;
  const event = {
    type: 'upsert',
    customerId,
    version: 1,
    occurredAt: new Date().toISOString(),
    profile: options.profile,
  };
  await publish(kafka, topics.profiles, [{ key: customerId, value: JSON.stringify(event) }]);
  await until(
    'the profile',
    async () => ((await storedProfileVersion(schema, customerId)) ?? 0) >= 1,
  );
  await publish(kafka, topics.send, [
    { key: customerId, value: JSON.stringify({ customerId, ...command }) },
  ]);
  await receipts.waitFor(
    (records) =>
      records.some((r) => {
        const receipt = JSON.parse(r.value) as ParsedReceipt;
        return receipt.messageId === command.id && receipt.status === 'sent';
      }),
    60000,
    'the original message to be sent',
  );
}
