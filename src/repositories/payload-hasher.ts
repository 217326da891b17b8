import { createHash, createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';

/**
 * The hash that tells a repeat of a command id from a conflicting reuse of it. Keyed (HMAC-SHA256
 * with a key derived from the message-log key), so a stored hash confirms no guess of the payload:
 * a plain SHA-256 of a short command would let anyone reading the table test candidate phone
 * numbers against it.
 *
 * The key is derived, not the message-log key itself, so one key never serves two purposes; it
 * rotates with that key. Hashes written under a previous key, or before hashes were keyed (plain
 * SHA-256), are still recognised through `earlier`, so a repeat of an old command stays a duplicate.
 */
export class PayloadHasher {
  /** Key objects, made once: a raw key given to createHmac is imported again on every call. */
  private readonly active: KeyObject;
  private readonly previous: readonly KeyObject[];

  constructor(messageLogKey: Buffer, previousMessageLogKeys: readonly Buffer[] = []) {
    this.active = derive(messageLogKey);
    this.previous = previousMessageLogKeys.map(derive);
  }

  hash(canonical: string): string {
    return hmac(this.active, canonical);
  }

  /** What the same payload hashed to under each previous key and unkeyed: still the same payload. */
  earlier(canonical: string): string[] {
    return [
      ...this.previous.map((key) => hmac(key, canonical)),
      createHash('sha256').update(canonical).digest('hex'),
    ];
  }
}

function derive(key: Buffer): KeyObject {
  return createSecretKey(
    Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'omnigate payload hash v1', 32)),
  );
}

function hmac(key: KeyObject, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}
