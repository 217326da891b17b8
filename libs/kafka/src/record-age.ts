import type { InboundRecord } from './types';

/**
 * How long ago, in ms, the record's producer stamped it (Kafka's timestamp is the producer's
 * clock). Undefined when the record carries no timestamp (-1 from brokers of old message formats)
 * or one that is not a number; 0 when the producer's clock is ahead of ours.
 */
export function recordAgeMs(
  record: Pick<InboundRecord, 'timestamp'>,
  nowMs: number,
): number | undefined {
  const stampedAt = Number(record.timestamp);
  if (!Number.isFinite(stampedAt) || stampedAt <= 0) return undefined;
  return Math.max(0, nowMs - stampedAt);
}
