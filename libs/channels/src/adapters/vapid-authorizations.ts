import { getVapidHeaders } from 'web-push';

/** How long a signed VAPID token is valid (the spec allows at most 24 h). */
const TOKEN_LIFETIME_SECONDS = 12 * 60 * 60;
/** Signed again well before it expires, so a request in flight never carries a stale one. */
const REUSE_FOR_MS = 60 * 60 * 1000;

export interface VapidKeys {
  readonly subject: string;
  readonly publicKey: string;
  readonly privateKey: string;
}

/**
 * VAPID Authorization headers, one per push service origin, signed once and reused for an hour.
 * web-push signs an ES256 token for every request when given the keys, which was the largest
 * single cost of a web push send in the profile; the token names only the push service's origin
 * and an expiry, so every message to that service can carry the same one.
 */
export class VapidAuthorizations {
  private readonly byAudience = new Map<string, { value: string; signedAt: number }>();

  constructor(
    private readonly keys: VapidKeys,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header for an endpoint on `origin` (scheme://host[:port]). */
  forOrigin(origin: string): string {
    const now = this.now();
    const cached = this.byAudience.get(origin);
    if (cached && now - cached.signedAt < REUSE_FOR_MS) return cached.value;
    const { Authorization } = getVapidHeaders(
      origin,
      this.keys.subject,
      this.keys.publicKey,
      this.keys.privateKey,
      'aes128gcm',
      Math.floor(now / 1000) + TOKEN_LIFETIME_SECONDS,
    );
    this.byAudience.set(origin, { value: Authorization, signedAt: now });
    return Authorization;
  }
}
