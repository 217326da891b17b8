import type { DeliveryReceipt } from '@omnigate/contracts';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { BROKERS, type ReadRecord, type TestTopics } from './kafka';

/** One message-log key per test file, so a restarted gateway opens what the last one sealed. */
export const MESSAGE_LOG_KEY = randomBytes(32).toString('base64');

/** The log provider on every channel, chosen by name as the service requires. */
export const LOG_PROVIDERS = {
  PROVIDERS_SMS: 'log',
  PROVIDERS_EMAIL: 'log',
  PROVIDERS_WHATSAPP: 'log',
  PROVIDERS_WEBPUSH: 'log',
  PROVIDERS_MOBILEPUSH: 'log',
} as const;

/**
 * Gateway environment for a test: its own topics and group, the log adapter everywhere, and
 * in-process stores for whichever of DATABASE_URL and REDIS_URL the test leaves out.
 */
export function gatewayEnv(
  topics: TestTopics,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: BROKERS.join(','),
    KAFKA_GROUP_ID: `gateway-${topics.send}`,
    TOPIC_SEND: topics.send,
    TOPIC_RECEIPTS: topics.receipts,
    TOPIC_DEAD_LETTER: topics.deadLetter,
    TOPIC_PROFILES: topics.profiles,
    TOPIC_CANCEL: topics.cancel,
    KAFKA_PROFILES_GROUP_ID: `profiles-${topics.send}`,
    TOPIC_PROVIDER_EVENTS: topics.providerEvents,
    KAFKA_PROVIDER_EVENTS_GROUP_ID: `provider-events-${topics.send}`,
    MAX_COMMAND_BYTES: '16384',
    MESSAGE_LOG_KEY,
    CONSUMER_SESSION_TIMEOUT_MS: '10000',
    CONSUMER_HEARTBEAT_INTERVAL_MS: '1000',
    SHUTDOWN_GRACE_MS: '20000',
    TEMPLATES_DIR: resolve(__dirname, '..', '..', 'templates'),
    // Tests send bursts to one fixture number; test/spend-guard.test.ts sets its own limits.
    SPEND_GUARD_NUMBER_PER_MINUTE: '0',
    SPEND_GUARD_NUMBER_PER_HOUR: '0',
    STORAGE: 'embedded',
    ...LOG_PROVIDERS,
    ...overrides,
  };
}

/** Receipts as the tests read them back from the receipts topic. */
export type ParsedReceipt = DeliveryReceipt;

/** The statuses of one message's receipts among records read from the receipts topic, in order. */
export function receiptStatusesOf(records: readonly ReadRecord[], messageId: string): string[] {
  return records
    .map((record) => JSON.parse(record.value) as DeliveryReceipt)
    .filter((receipt) => receipt.messageId === messageId)
    .map((receipt) => receipt.status);
}
