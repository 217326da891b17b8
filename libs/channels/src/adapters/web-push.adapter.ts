import { createECDH, createHash, randomUUID } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import {
  sendNotification,
  WebPushError,
  type PushSubscription,
  type RequestOptions,
  type Urgency,
} from 'web-push';
import { checkPushEndpoint } from '@omnigate/contracts';
import { VapidAuthorizations } from './vapid-authorizations';
import { cidrList, cidrProblem, publicAddressLookup, RefusedAddressError } from '../address-guard';
import { contextTrusting } from '../extra-trust';
import type { PushAckIssuer } from '../push-ack-token';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';
import {
  classifyNetworkCode,
  configurationError,
  describeNetworkFailure,
  failureBuilder,
  errorName,
  isRecord,
  kindForHttpStatus,
  NETWORK_ERROR_KINDS,
  parseRetryAfterMs,
  requireOption,
  requireRequestTimeout,
  withoutMessage,
  withTimeout,
  type ErrorKindTable,
  type NetworkFailureWording,
} from './shared';

export { parseRetryAfterMs };

/** Vendor code → our error kind. */
export type WebPushErrorTable = ErrorKindTable;

/**
 * Push service HTTP statuses (RFC 8030 / 8292; what FCM, Mozilla autopush, Apple and WNS answer)
 * → our kinds. Unlisted statuses: 5xx transient, other 4xx permanent. No HTTP answer:
 * WEB_PUSH_NETWORK_ERROR_KINDS.
 */
export const WEB_PUSH_ERROR_KINDS = {
  '400': 'permanent', // malformed request (bad header, topic, encoding)
  // VAPID JWT refused (401) or signed by a key the subscription was not created with (403). Both
  // are about our keys; treating 403 as unreachable_token would delete every subscription after a
  // VAPID key mix-up.
  '401': 'configuration',
  '403': 'configuration',
  '404': 'unreachable_token', // unknown or expired subscription: delete it
  '410': 'unreachable_token', // gone (unsubscribed): delete it
  '413': 'permanent', // payload over 4096 bytes
  '429': 'rate_limited', // with Retry-After
} as const satisfies WebPushErrorTable;

/**
 * What each status means, in our words. ChannelError messages are built from these, never from the
 * push service's body, and never from the subscription (its endpoint is a capability URL).
 */
export const WEB_PUSH_ERROR_DESCRIPTIONS = {
  '400': 'request refused as malformed',
  '401': 'VAPID signature refused',
  '403': 'VAPID key is not the one the subscription was created with',
  '404': 'subscription unknown or expired',
  '410': 'subscription gone (unsubscribed)',
  '413': 'payload too large',
  '429': 'too many requests',
} as const satisfies Readonly<Record<keyof typeof WEB_PUSH_ERROR_KINDS, string>>;

/**
 * Errors without an HTTP answer (Node error codes, and TIMEOUT when requestTimeoutMs passed or
 * web-push's socket timed out). Only failures before the request was written are worth another
 * provider; once the connection carried the push, the service may have taken it and sending it
 * again could deliver it twice. TLS verification failures are configuration; any other code is
 * outcome_unknown.
 */
export const WEB_PUSH_NETWORK_ERROR_KINDS = {
  ...NETWORK_ERROR_KINDS,
  TIMEOUT: 'outcome_unknown', // ours, or web-push's "Socket timeout"
} as const satisfies WebPushErrorTable;

/** Hosts of the browsers' push services, the only places a subscription may send us to. */
export const DEFAULT_PUSH_SERVICE_HOSTS = [
  'fcm.googleapis.com', // Chrome, Opera, Samsung Internet, other Chromium browsers
  'updates.push.services.mozilla.com', // Firefox
  '.push.apple.com', // Safari (web.push.apple.com)
  '.notify.windows.com', // Edge (WNS)
] as const;

export interface WebPushAdapterOptions {
  /** Names this configured provider, e.g. "webpush". */
  readonly providerId: string;
  /** VAPID contact: a mailto: or https: URL. */
  readonly vapidSubject: string;
  /** VAPID key pair, base64url (the browser subscribed with this public key). */
  readonly vapidPublicKey: string;
  readonly vapidPrivateKey: string;
  /** Whole-request timeout; also the socket idle timeout. */
  readonly requestTimeoutMs: number;
  /** An extra CA to trust, e.g. the sandbox certificate of a local push service. */
  readonly caCertPem?: string;
  /**
   * Hosts a subscription endpoint may point at; an entry starting with "." matches subdomains.
   * Subscriptions arrive from outside, so without this list the gateway would POST wherever a
   * producer said (SSRF). Default: DEFAULT_PUSH_SERVICE_HOSTS; the sandbox sets "localhost".
   */
  readonly pushServiceHosts?: readonly string[];
  /**
   * Non-public addresses (CIDR ranges or single addresses) a push service may resolve to, e.g.
   * "127.0.0.1/32" for the local sandbox. Default: none, so an endpoint whose host resolves to a
   * loopback, private, link-local, CGNAT, multicast or unspecified address is refused before any
   * connection. Setting it also lets endpoints name a port other than 443, as local push services
   * listen on free ports.
   */
  readonly allowedAddresses?: readonly string[];
  /** Connections kept open per push service host (default 50). */
  readonly maxSockets?: number;
  /** Categories whose undelivered messages replace each other (the Topic header). */
  readonly collapseCategories?: readonly string[];
  /**
   * Puts a signed ack token into every payload ("ack": {url, token}), which the service worker
   * posts back on display and on click; unset when WEBHOOK_PUBLIC_BASE_URL is.
   */
  readonly ack?: PushAckIssuer;
}

/** What the service worker receives (JSON): the content plus our id, usable as notification tag. */
export interface WebPushPayload {
  readonly title: string;
  readonly body: string;
  readonly url?: string;
  readonly icon?: string;
  readonly messageId: string;
  /** Where and what the service worker posts to confirm display ("delivered") and click ("read"). */
  readonly ack?: { readonly url: string; readonly token: string };
}

// web-push's own default: how long a push service keeps an undelivered message.
const DEFAULT_TTL_SECONDS = 4 * 7 * 24 * 60 * 60;
const DEFAULT_MAX_SOCKETS = 50;
const URGENCY: Readonly<Record<OutboundMessage['priority'], Urgency>> = {
  high: 'high',
  normal: 'normal',
  low: 'low',
};
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
const NETWORK_WORDING: NetworkFailureWording = {
  peer: 'the push service',
  mayHaveGone: 'the push may have gone out',
  mayHaveTaken: 'it may have taken the message',
  ownTimeout: true,
};

function base64UrlBytes(value: string): Buffer | undefined {
  return /^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, 'base64url') : undefined;
}

export function buildWebPushPayload(
  message: OutboundMessage<'webpush'>,
  ack?: { readonly url: string; readonly token: string },
): WebPushPayload {
  const { title, body, url, icon } = message.content;
  return {
    title,
    body,
    ...(url ? { url } : {}),
    ...(icon ? { icon } : {}),
    messageId: message.messageId,
    ...(ack ? { ack } : {}),
  };
}

/** A Topic header for a category: itself when it fits (≤ 32 URL-safe chars), else a digest. */
export function webPushTopic(category: string): string {
  if (TOPIC.test(category)) return category;
  return createHash('sha256').update(category).digest('base64url').slice(0, 32);
}

/** The subscription in an address, or why it is unusable. */
function parseSubscription(address: string): PushSubscription | string {
  let value: unknown;
  try {
    value = JSON.parse(address);
  } catch {
    return 'the address is not a JSON push subscription';
  }
  if (!isRecord(value) || typeof value.endpoint !== 'string' || !isRecord(value.keys)) {
    return 'the subscription lacks endpoint or keys';
  }
  const { endpoint } = value;
  const { p256dh, auth } = value.keys;
  const point = typeof p256dh === 'string' ? base64UrlBytes(p256dh) : undefined;
  if (typeof p256dh !== 'string' || point?.length !== 65 || point[0] !== 0x04) {
    return 'keys.p256dh is not an uncompressed P-256 public key';
  }
  if (typeof auth !== 'string' || base64UrlBytes(auth)?.length !== 16) {
    return 'keys.auth is not a 16-byte secret';
  }
  return { endpoint, keys: { p256dh, auth } };
}

/**
 * Runs `work` with error stack traces off. Node 24 tells a key object from a Buffer by catching the
 * TypeErrors of two failed brand checks, and web-push's encryption (http_ece) hands Buffers as keys
 * to createHmac and createCipheriv six times a message: capturing those twelve discarded errors'
 * stacks took about a quarter of a push's CPU (110 of 430 µs on Node 24.21, see the README's
 * performance notes). The encryption and the request run synchronously inside sendNotification, so
 * stacks are off for that stretch only; an error thrown there keeps its name, code and message.
 */
function withoutStackTraces<T>(work: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return work();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function hostAllowed(host: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const rule = entry.toLowerCase();
    return rule.startsWith('.') ? host.endsWith(rule) : host === rule;
  });
}

/**
 * The kind for a push that got no HTTP answer: the table, then TLS (configuration: our trust store
 * is wrong, another provider would not help), then outcome_unknown.
 */
export function classifyWebPushNetworkError(code: string): ChannelErrorKind {
  return classifyNetworkCode(WEB_PUSH_NETWORK_ERROR_KINDS, code, 'configuration');
}

/**
 * Web Push (RFC 8030/8291/8292) with the web-push library: the payload is encrypted for the
 * subscription (aes128gcm) and signed with our VAPID key; web-push never retries. The address is
 * the JSON-serialized browser subscription.
 */
export class WebPushAdapter implements ChannelAdapter<'webpush'> {
  readonly channel = 'webpush' as const;
  readonly providerId: string;
  private readonly vapid: VapidAuthorizations;
  private readonly agent: HttpsAgent;
  private readonly timeoutMs: number;
  private readonly pushServiceHosts: readonly string[];
  private readonly anyPort: boolean;
  private readonly collapseCategories: ReadonlySet<string>;
  private readonly ack: PushAckIssuer | undefined;

  constructor(options: WebPushAdapterOptions) {
    const providerId = requireOption('webpush', 'providerId', options.providerId);
    const subject = requireOption(providerId, 'vapidSubject', options.vapidSubject);
    const publicKey = requireOption(providerId, 'vapidPublicKey', options.vapidPublicKey);
    const privateKey = requireOption(providerId, 'vapidPrivateKey', options.vapidPrivateKey);
    if (!/^(mailto:|https:\/\/)/.test(subject)) {
      throw configurationError(
        providerId,
        'option "vapidSubject" must be a mailto: or https:// URL',
      );
    }
    const publicPoint = base64UrlBytes(publicKey);
    if (publicPoint?.length !== 65 || publicPoint[0] !== 0x04) {
      throw configurationError(providerId, 'option "vapidPublicKey" is not a base64url P-256 key');
    }
    const privateScalar = base64UrlBytes(privateKey);
    if (privateScalar?.length !== 32) {
      throw configurationError(providerId, 'option "vapidPrivateKey" is not a base64url P-256 key');
    }
    // A mismatched pair would make every push fail 401/403; say so at boot instead.
    const derived = createECDH('prime256v1');
    try {
      derived.setPrivateKey(privateScalar);
    } catch {
      throw configurationError(providerId, 'option "vapidPrivateKey" is not a valid P-256 key');
    }
    if (!derived.getPublicKey().equals(publicPoint)) {
      throw configurationError(providerId, 'vapidPublicKey does not belong to vapidPrivateKey');
    }
    requireRequestTimeout(providerId, options.requestTimeoutMs);
    const allowedAddresses = options.allowedAddresses ?? [];
    const addressProblem = allowedAddresses.map(cidrProblem).find(Boolean);
    if (addressProblem) {
      throw configurationError(providerId, `option "allowedAddresses": ${addressProblem}`);
    }
    this.providerId = providerId;
    this.vapid = new VapidAuthorizations({ subject, publicKey, privateKey });
    this.timeoutMs = options.requestTimeoutMs;
    this.pushServiceHosts = options.pushServiceHosts ?? DEFAULT_PUSH_SERVICE_HOSTS;
    this.anyPort = allowedAddresses.length > 0;
    this.collapseCategories = new Set(options.collapseCategories ?? []);
    this.ack = options.ack;
    this.agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS,
      secureContext: contextTrusting(options.caCertPem),
      // Every new connection checks the addresses it is about to use (no DNS rebinding gap).
      lookup: publicAddressLookup(cidrList(allowedAddresses)),
    });
  }

  async send(message: OutboundMessage<'webpush'>): Promise<ProviderAcceptance> {
    const provider = this.providerId;
    const subscription = parseSubscription(message.address);
    if (typeof subscription === 'string') {
      throw new ChannelError(`${provider}: ${subscription}`, {
        kind: 'invalid_recipient',
        provider,
        vendorCode: 'INVALID_SUBSCRIPTION',
      });
    }
    // The contract checks this at intake too; stored profiles may predate that check.
    const endpoint = checkPushEndpoint(subscription.endpoint);
    if (!endpoint.ok) {
      throw new ChannelError(`${provider}: the subscription endpoint ${endpoint.problem}`, {
        kind: 'invalid_recipient',
        provider,
        vendorCode: 'UNSAFE_ENDPOINT',
      });
    }
    if (endpoint.port !== undefined && endpoint.port !== 443 && !this.anyPort) {
      throw new ChannelError(`${provider}: the subscription endpoint names a port other than 443`, {
        kind: 'invalid_recipient',
        provider,
        vendorCode: 'UNSAFE_ENDPOINT',
      });
    }
    if (!hostAllowed(endpoint.hostname, this.pushServiceHosts)) {
      // The host stays out of the message: it is part of the address.
      throw new ChannelError(
        `${provider}: the subscription endpoint is not on a known push service`,
        {
          kind: 'invalid_recipient',
          provider,
          vendorCode: 'PUSH_SERVICE_NOT_ALLOWED',
        },
      );
    }
    const ack = this.ack;
    const payload = JSON.stringify(
      buildWebPushPayload(
        message,
        ack && {
          url: ack.url,
          token: ack.issue({
            messageId: message.messageId,
            channel: 'webpush',
            providerId: provider,
          }),
        },
      ),
    );
    const options: RequestOptions = {
      // Signed once per push service origin (what web-push would sign per request), see
      // VapidAuthorizations; web-push then adds no VAPID header of its own.
      headers: { Authorization: this.vapid.forOrigin(originOf(endpoint)) },
      TTL: message.ttlSeconds ?? DEFAULT_TTL_SECONDS,
      urgency: URGENCY[message.priority],
      topic: this.collapseCategories.has(message.category)
        ? webPushTopic(message.category)
        : undefined,
      contentEncoding: 'aes128gcm',
      timeout: this.timeoutMs,
      agent: this.agent,
    };
    try {
      const result = await withTimeout(
        // The normalised href: what was checked is what web-push's url.parse reads.
        withoutStackTraces(() =>
          sendNotification({ ...subscription, endpoint: endpoint.href }, payload, options),
        ),
        this.timeoutMs,
        () =>
          new ChannelError(
            `${provider}: push service did not answer within ${this.timeoutMs} ms; it may have taken the message`,
            { kind: classifyWebPushNetworkError('TIMEOUT'), provider, vendorCode: 'TIMEOUT' },
          ),
      );
      const location = result.headers.location;
      return {
        provider,
        // RFC 8030 requires Location; a service that omits it still took the message (201).
        providerMessageId: location ? location : `webpush-${randomUUID()}`,
        acceptedAt: new Date(),
      };
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** Closes pooled connections. */
  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /**
   * Messages hold statuses, codes and our own words: never the push service's body, never the
   * subscription. Causes are rebuilt for the same reason (WebPushError carries the endpoint).
   */
  private translate(error: unknown): ChannelError {
    if (error instanceof ChannelError) return error;
    const provider = this.providerId;
    const fail = failureBuilder(
      provider,
      (vendorCode, text) => new Error(`${vendorCode}: ${text}`),
    );
    if (error instanceof RefusedAddressError) {
      // The subscription points inside our network: a fault of this message, not of the provider.
      return fail(
        'invalid_recipient',
        'PUSH_ADDRESS_REFUSED',
        `not sent: the push service host resolves only to ${error.range} addresses`,
      );
    }
    if (error instanceof WebPushError) {
      const status = error.statusCode;
      const vendorCode = String(status);
      // The table lists 401, 403 and 429, so the fallback means: 5xx transient, other 4xx permanent.
      const kind =
        (WEB_PUSH_ERROR_KINDS as WebPushErrorTable)[vendorCode] ?? kindForHttpStatus(status);
      const description =
        (WEB_PUSH_ERROR_DESCRIPTIONS as Readonly<Record<string, string>>)[vendorCode] ??
        (status >= 500 ? 'push service error' : 'request refused');
      return fail(kind, vendorCode, `push service answered HTTP ${status}: ${description}`, {
        retryAfterMs:
          kind === 'rate_limited' ? parseRetryAfterMs(error.headers['retry-after']) : undefined,
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    const code = isRecord(error) && typeof error.code === 'string' ? error.code : undefined;
    // web-push's socket timeout is a bare Error.
    const networkCode = code ?? (reason === 'Socket timeout' ? 'TIMEOUT' : undefined);
    if (networkCode !== undefined) {
      const kind = classifyWebPushNetworkError(networkCode);
      return fail(kind, networkCode, describeNetworkFailure(networkCode, kind, NETWORK_WORDING), {
        // Node's words about the socket ("socket hang up", "connect ECONNREFUSED 127.0.0.1:443").
        cause: new Error(`${networkCode}: ${reason}`),
      });
    }
    // Thrown before a request went out (web-push's own validation): a retry cannot help.
    return fail('permanent', 'UNKNOWN', `web push not sent: ${errorName(error)}`, {
      cause: withoutMessage(error),
    });
  }
}

/** The push service's origin as web-push names the VAPID audience: scheme, host and any port. */
function originOf(endpoint: {
  readonly hostname: string;
  readonly port: number | undefined;
}): string {
  return `https://${endpoint.hostname}${endpoint.port === undefined ? '' : `:${endpoint.port}`}`;
}
