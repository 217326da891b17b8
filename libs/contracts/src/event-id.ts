import { createHash } from 'node:crypto';
import type { ReceiptStatus } from './receipt-status';

/**
 * Namespace for receipt event ids. Fixed forever: changing it would give every re-emitted receipt
 * a new id and defeat consumers' deduplication.
 */
export const RECEIPT_EVENT_ID_NAMESPACE = 'e2650f7e-b744-4087-8c17-3642e9afdff5';

/** Name-based UUID, version 5 (RFC 9562 §5.5): SHA-1 over namespace bytes + name, 122 bits kept. */
export function uuidV5(namespace: string, name: string): string {
  const namespaceBytes = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  if (namespaceBytes.length !== 16) throw new RangeError(`not a UUID: ${namespace}`);
  const bytes = createHash('sha1')
    .update(namespaceBytes)
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface ReceiptEventIdParts {
  messageId: string;
  status: ReceiptStatus;
  attempt: number;
  /** Separates receipts that share messageId, status and attempt (e.g. the channel). */
  discriminator?: string;
}

/**
 * Name-based (version 5, RFC 9562) UUID over the parts, so reprocessing the same command after a
 * crash or rebalance emits receipts with the same eventId and consumers can drop the repeats.
 */
export function receiptEventId(parts: ReceiptEventIdParts): string {
  const { messageId, status, attempt, discriminator } = parts;
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a non-negative integer, got ${String(attempt)}`);
  }
  // A JSON array keeps the parts unambiguous whatever characters they contain ("a|b" + "c" vs
  // "a" + "b|c" would collide with a plain separator).
  return uuidV5(
    RECEIPT_EVENT_ID_NAMESPACE,
    JSON.stringify([messageId, status, attempt, discriminator ?? null]),
  );
}
