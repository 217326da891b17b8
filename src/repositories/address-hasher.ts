import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { Channel } from '@omnigate/contracts';

/**
 * Names an address (phone number, email address, push subscription endpoint or token) without
 * holding it: a keyed HMAC-SHA256, so suppressions and provider events can match an address while
 * neither the provider-events topic nor the suppression table carries it in clear.
 *
 * Derived from the message-log key with its own label (one key never serves two purposes) and
 * rotated with it: `all()` gives the hashes under the previous keys too, so an address suppressed
 * before a rotation stays suppressed.
 */
export class AddressHasher {
  private readonly active: KeyObject;
  private readonly previous: readonly KeyObject[];

  constructor(messageLogKey: Buffer, previousMessageLogKeys: readonly Buffer[] = []) {
    this.active = derive(messageLogKey);
    this.previous = previousMessageLogKeys.map(derive);
  }

  hash(channel: Channel, address: string): string {
    return hmac(this.active, normalise(channel, address));
  }

  /** The hash under the active key first, then under each previous key. */
  all(channel: Channel, address: string): string[] {
    const text = normalise(channel, address);
    return [this.active, ...this.previous].map((key) => hmac(key, text));
  }
}

/**
 * SMS and WhatsApp share the phone number (Twilio writes WhatsApp's as "whatsapp:+1…"), email is
 * case-insensitive in practice; push endpoints and tokens are compared as given.
 */
export function normalise(channel: Channel, address: string): string {
  const trimmed = address.trim();
  switch (channel) {
    case 'sms':
    case 'whatsapp':
      return `phone:${trimmed.replace(/^whatsapp:/i, '')}`;
    case 'email':
      return `email:${trimmed.toLowerCase()}`;
    case 'webpush':
    case 'mobilepush':
      return `${channel}:${trimmed}`;
  }
}

function derive(key: Buffer): KeyObject {
  return createSecretKey(
    Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'omnigate address hash v1', 32)),
  );
}

function hmac(key: KeyObject, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}
