import { WebhookSender, type WebhookPost, type WebhookRoute } from '../core';
import type { WebhookDeliveryOptions } from '../core';

/**
 * How the pretend app (a service worker, a mobile app) acknowledges pushes: pushes carry no
 * provider receipt, so the app posts the push's ack token back to the gateway on display and,
 * when the user taps it, on click.
 */
export interface PushAppAckOptions {
  /** Wait before `delivered`, and again before `read`; default 100 ms. */
  readonly delayMs?: number;
  /** The app shows every push and says so; default true. */
  readonly delivered?: boolean;
  /** Recipients (web push subscription ids, FCM registration tokens) whose user taps the push. */
  readonly readRecipients?: readonly string[];
  /** Fraction 0..1 of the other recipients who tap it too. */
  readonly readFraction?: number;
}

/** The ack a push carried: where to post and the signed token to post. */
export interface PushAck {
  readonly url: string;
  readonly token: string;
}

const DEFAULT_ACK_DELAY_MS = 100;

/** The app half shared by the web push and FCM fakes. */
export class PushAppAcks {
  private readonly webhooks: WebhookSender;
  private options: PushAppAckOptions | undefined;

  constructor(
    options: PushAppAckOptions | undefined,
    delivery: WebhookDeliveryOptions | undefined,
    private readonly random: () => number,
  ) {
    this.options = options;
    this.webhooks = new WebhookSender(delivery);
  }

  get posts(): readonly WebhookPost[] {
    return this.webhooks.posts;
  }

  set(options: PushAppAckOptions | undefined): void {
    this.options = options;
  }

  setRoute(route: WebhookRoute | undefined): void {
    this.webhooks.setRoute(route);
  }

  idle(): Promise<void> {
    return this.webhooks.idle();
  }

  /** A push reached the device: acknowledge it as the options say (nothing without options). */
  received(recipient: string, ack: PushAck | undefined): void {
    const options = this.options;
    if (!options || !ack) return;
    const events: Array<'delivered' | 'read'> = [];
    if (options.delivered ?? true) events.push('delivered');
    const reads =
      (options.readRecipients ?? []).includes(recipient) ||
      (options.readFraction ?? 0) > this.random();
    if (reads) events.push('read');
    if (events.length === 0) return;
    const delayMs = options.delayMs ?? DEFAULT_ACK_DELAY_MS;
    this.webhooks.later(delayMs, async (signal) => {
      for (const [index, event] of events.entries()) {
        if (index > 0) await this.webhooks.pause(delayMs, signal);
        await this.webhooks.post(
          'push-ack',
          ack.url,
          { 'content-type': 'application/json' },
          JSON.stringify({ token: ack.token, event }),
          signal,
        );
      }
    });
  }

  reset(): void {
    this.webhooks.reset();
  }

  close(): Promise<void> {
    return this.webhooks.close();
  }
}

/** The ack a decrypted web push payload carries (`"ack": {url, token}`), if it is well formed. */
export function webPushAck(payload: unknown): PushAck | undefined {
  if (typeof payload !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    // A payload that is not JSON carries no ack; the app just shows it.
    return undefined;
  }
  const ack = isRecord(parsed) ? parsed.ack : undefined;
  return isRecord(ack) && typeof ack.url === 'string' && typeof ack.token === 'string'
    ? { url: ack.url, token: ack.token }
    : undefined;
}

export const FCM_ACK_URL_KEY = 'omnigate_ack_url';
export const FCM_ACK_TOKEN_KEY = 'omnigate_ack_token';

/** The ack an FCM message's data carries (omnigate_ack_url / omnigate_ack_token), if any. */
export function fcmAck(data: Readonly<Record<string, string>> | undefined): PushAck | undefined {
  const url = data?.[FCM_ACK_URL_KEY];
  const token = data?.[FCM_ACK_TOKEN_KEY];
  return url !== undefined && token !== undefined ? { url, token } : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
