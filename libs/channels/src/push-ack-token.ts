import {
  createHmac,
  createSecretKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';

/**
 * The signed token a push carries so the app can confirm it: the service worker or mobile app
 * posts it back on display ("delivered") and on click ("read"). Pushes have no provider receipts,
 * so this is their only delivery evidence, and only our own signature makes it believable.
 *
 * Format: `v1.<payload>.<mac>`, payload = base64url(JSON {i, m, c, p, x}), mac =
 * base64url(HMAC-SHA256(key, "v1." + payload)). The key is derived from the message-log key with
 * its own label (one key never serves two purposes); tokens signed under a previous key still
 * verify after a rotation.
 */
export const PUSH_ACK_TOKEN_VERSION = 'v1';
const KEY_LABEL = 'omnigate push ack v1';
/** Far above a real token (~250 characters): anything longer is not ours. */
export const MAX_PUSH_ACK_TOKEN_LENGTH = 2048;

export type PushAckChannel = 'webpush' | 'mobilepush';

export interface PushAckClaims {
  /** Random per token: with the ack kind, the event's identity (dedupes a repeated ack). */
  readonly tokenId: string;
  readonly messageId: string;
  readonly channel: PushAckChannel;
  readonly providerId: string;
  /** Epoch seconds after which the token is refused. */
  readonly expiresAt: number;
}

export type PushAckVerification =
  | { readonly ok: true; readonly claims: PushAckClaims }
  | { readonly ok: false; readonly reason: 'malformed' | 'bad_signature' | 'expired' };

/** What a push adapter needs to put an ack into a push: where to post, and a fresh token. */
export interface PushAckIssuer {
  readonly url: string;
  issue(message: {
    readonly messageId: string;
    readonly channel: PushAckChannel;
    readonly providerId: string;
  }): string;
}

const payloadSchema = z.strictObject({
  i: z.string().min(1).max(64),
  m: z.string().min(1).max(256),
  c: z.enum(['webpush', 'mobilepush']),
  p: z.string().min(1).max(64),
  x: z.number().int().positive(),
});

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class PushAckTokens {
  private readonly active: KeyObject;
  private readonly all: readonly KeyObject[];

  /**
   * @param messageLogKey the active message-log key; previousKeys are the retired ones.
   * @param ttlSeconds how long a token stays acceptable after it was issued.
   */
  constructor(
    messageLogKey: Buffer,
    previousKeys: readonly Buffer[],
    private readonly ttlSeconds: number,
  ) {
    this.active = derive(messageLogKey);
    this.all = [this.active, ...previousKeys.map(derive)];
  }

  issue(
    message: {
      readonly messageId: string;
      readonly channel: PushAckChannel;
      readonly providerId: string;
    },
    nowMs: number = Date.now(),
  ): string {
    const claims = {
      i: randomBytes(12).toString('base64url'),
      m: message.messageId,
      c: message.channel,
      p: message.providerId,
      x: Math.floor(nowMs / 1000) + this.ttlSeconds,
    };
    const signed = `${PUSH_ACK_TOKEN_VERSION}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${signed}.${mac(this.active, signed).toString('base64url')}`;
  }

  verify(token: string, nowMs: number = Date.now()): PushAckVerification {
    if (token.length > MAX_PUSH_ACK_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'malformed' };
    const [version, payload, signature] = parts as [string, string, string];
    if (version !== PUSH_ACK_TOKEN_VERSION || !BASE64URL.test(payload)) {
      return { ok: false, reason: 'malformed' };
    }
    if (!BASE64URL.test(signature)) return { ok: false, reason: 'bad_signature' };
    const given = Buffer.from(signature, 'base64url');
    const signed = `${version}.${payload}`;
    const matches = this.all.some((key) => {
      const expected = mac(key, signed);
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!matches) return { ok: false, reason: 'bad_signature' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const claims = payloadSchema.safeParse(parsed);
    if (!claims.success) return { ok: false, reason: 'malformed' };
    const { i, m, c, p, x } = claims.data;
    if (x * 1000 <= nowMs) return { ok: false, reason: 'expired' };
    return {
      ok: true,
      claims: { tokenId: i, messageId: m, channel: c, providerId: p, expiresAt: x },
    };
  }

  /** An issuer for the push adapters, posting back to `url`. */
  issuer(url: string): PushAckIssuer {
    return { url, issue: (message) => this.issue(message) };
  }
}

/** Where the app posts its acks: <public base URL>/webhooks/push/ack. */
export function pushAckUrl(publicBaseUrl: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/webhooks/push/ack`;
}

function derive(key: Buffer): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), KEY_LABEL, 32)));
}

function mac(key: KeyObject, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}
