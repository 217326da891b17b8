import {
  createECDH,
  createPublicKey,
  randomBytes,
  randomUUID,
  verify,
  type ECDH,
} from 'node:crypto';
import { createRequire } from 'node:module';
import {
  FakeProviderServer,
  retryAfterHeaders,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type FakeServerOptions,
  type ParsedRequest,
  type PlannedFailure,
  type WebhookDeliveryOptions,
  type WebhookPost,
  type WebhookRoute,
} from '../core';
import { PushAppAcks, webPushAck, type PushAppAckOptions } from './app-acks';
import { sandboxTls, type SandboxTls } from './tls';

/** A PushSubscription as a browser's `toJSON()` gives it. */
export interface WebPushSubscriptionJson {
  readonly endpoint: string;
  readonly expirationTime: null;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

export interface FakePushSubscription {
  /** The id in the endpoint path; `recipientErrors` and `deliveries()` are keyed by it. */
  readonly id: string;
  readonly subscription: WebPushSubscriptionJson;
}

/** The claims of a VAPID JWT the fake accepted. */
export interface VapidClaims {
  readonly aud: string;
  readonly exp: number;
  readonly sub: string;
  /** The application server key (k=) the JWT was verified with, base64url. */
  readonly publicKey: string;
}

/** One push message the fake accepted, decrypted. */
export interface PushDelivery {
  readonly subscriptionId: string;
  /** The Location the fake answered with (the push message resource). */
  readonly location: string;
  readonly receivedAt: string;
  /** The decrypted payload as UTF-8 text; empty when the fake forwards payloads unread. */
  readonly payload: string;
  readonly ttl: number;
  readonly urgency?: string;
  readonly topic?: string;
  readonly vapid: VapidClaims;
}

export interface FakeWebPushOptions extends Omit<FakeServerOptions, 'tls'> {
  /** Largest encrypted body accepted; RFC 8030 push services must take at least 4096 bytes. */
  readonly maxPayloadBytes?: number;
  /** The pretend browser acknowledges pushes that carry an ack (nothing when omitted). */
  readonly appAcks?: PushAppAckOptions;
  /** Retries, timeouts and the ingress in front of the gateway, for the acks. */
  readonly webhooks?: WebhookDeliveryOptions;
  /**
   * `decrypt` (the default): the pretend browser decrypts every payload, so tests can compare it
   * with what was sent, and one that does not decrypt is refused. `forward`: only what a real
   * push service can see is checked (the aes128gcm header), as it forwards the ciphertext unread;
   * for load, where decrypting cost the sandbox about as much as the rest of a push. The pretend
   * browser's acks need the payload, so `forward` takes no `appAcks`.
   */
  readonly payloads?: 'decrypt' | 'forward';
}

interface SubscriptionState {
  readonly id: string;
  readonly endpoint: string;
  readonly receiver: ECDH;
  readonly authSecret: Buffer;
  readonly applicationServerKey?: string;
  expired: boolean;
}

/** What the fake learnt from a request body before deciding how to answer. */
interface Inspection {
  readonly plaintext?: string;
  /** Why the body is refused with a 400. */
  readonly refusal?: string;
}

/** The aes128gcm header: salt (16 bytes), record size (4) and the key id's length (1). */
const ECE_HEADER_BYTES = 21;
/** A record's least: the padding delimiter and the 16-byte tag. */
const ECE_MIN_RECORD_BYTES = 17;
const P256_POINT_BYTES = 65;

/**
 * What a push service can check of an aes128gcm body without the subscriber's keys (RFC 8188
 * section 2.1, RFC 8291 section 4): a key id that is the sender's uncompressed P-256 point, and
 * one record that fits the record size.
 */
function aes128gcmProblem(body: Buffer): string | undefined {
  if (body.length < ECE_HEADER_BYTES) return 'shorter than the aes128gcm header';
  const recordSize = body.readUInt32BE(16);
  const keyIdLength = body[20];
  if (keyIdLength !== P256_POINT_BYTES || body[ECE_HEADER_BYTES] !== 0x04) {
    return "the key id is not the sender's uncompressed P-256 public key";
  }
  const record = body.length - ECE_HEADER_BYTES - P256_POINT_BYTES;
  if (record < ECE_MIN_RECORD_BYTES) return 'no encrypted record after the header';
  if (record > recordSize) return 'more than one record (a push message has one)';
  return undefined;
}

interface EceModule {
  decrypt(
    buffer: Buffer,
    params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: Buffer },
  ): Buffer;
}

const PUSH_PATH = /^\/push\/([A-Za-z0-9_-]+)$/;
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_VAPID_LIFETIME_SECONDS = 24 * 60 * 60;
const CLOCK_SKEW_SECONDS = 60;
const DEFAULT_RETRY_AFTER_SECONDS = 30;
const DEFAULT_MAX_PAYLOAD_BYTES = 4096;
const REMEMBERED_VAPID_TOKENS = 256;

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// http_ece ships no type declarations; load it through a typed seam instead of an untyped import.
function loadEce(): EceModule {
  const loaded: unknown = createRequire(__filename)('http_ece');
  if (!isRecord(loaded) || typeof loaded.decrypt !== 'function') {
    throw new Error('http_ece does not export decrypt()');
  }
  return loaded as unknown as EceModule;
}
const ece = loadEce();

function pushError(
  status: number,
  message: string,
  headers?: Record<string, string>,
): FakeResponse {
  return {
    status,
    headers,
    body: { code: status, error: REASONS[status] ?? 'Error', message },
  };
}

function vapidParams(header: string | undefined): Map<string, string> | undefined {
  const match = /^vapid\s+(.+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const params = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return params;
}

function decodeJson(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

/**
 * Tokens whose signature already verified with a key. An application server reuses its JWT for
 * many pushes (RFC 8292 allows it until exp), and an ES256 verify was about two fifths of what
 * this fake spent on a push (decrypting most of the rest); the claims are still checked on every
 * push, so a remembered token still expires. Bounded: the oldest is forgotten first.
 */
class VerifiedTokens {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(key: string, token: string): boolean {
    return this.seen.has(`${key} ${token}`);
  }

  add(key: string, token: string): void {
    if (this.seen.size >= this.capacity) {
      const oldest = this.seen.values().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.seen.add(`${key} ${token}`);
  }
}

/**
 * Checks `Authorization: vapid t=<JWT>, k=<key>` as RFC 8292 asks: an ES256 JWT signed by k, for
 * this push service's origin, expiring within 24 hours, with a contact (sub). 403 when k is not
 * the key the subscription was created with.
 */
function checkVapid(
  header: string | undefined,
  audience: string,
  boundKey: string | undefined,
  verified: VerifiedTokens,
): VapidClaims | FakeResponse {
  const params = vapidParams(header);
  const token = params?.get('t');
  const key = params?.get('k');
  if (!token || !key) return pushError(401, 'Missing or malformed vapid Authorization header');
  const point = Buffer.from(key, 'base64url');
  if (point.length !== 65 || point[0] !== 0x04) {
    return pushError(401, 'k is not an uncompressed P-256 public key');
  }
  const [headerPart, claimsPart, signaturePart] = token.split('.');
  if (!headerPart || !claimsPart || !signaturePart) return pushError(401, 'Malformed JWT');
  let jwtHeader: unknown;
  let claims: unknown;
  try {
    jwtHeader = decodeJson(headerPart);
    claims = decodeJson(claimsPart);
  } catch {
    return pushError(401, 'Malformed JWT');
  }
  if (!isRecord(jwtHeader) || jwtHeader.alg !== 'ES256' || !isRecord(claims)) {
    return pushError(401, 'JWT must be ES256');
  }
  if (!verified.has(key, token)) {
    const publicKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
    const valid = verify(
      'sha256',
      Buffer.from(`${headerPart}.${claimsPart}`),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signaturePart, 'base64url'),
    );
    if (!valid) return pushError(401, 'JWT signature does not verify with k');
    verified.add(key, token);
  }
  const { aud, exp, sub } = claims;
  if (aud !== audience) return pushError(401, `JWT aud must be ${audience}`);
  const now = Math.floor(Date.now() / 1000);
  if (typeof exp !== 'number' || exp <= now - CLOCK_SKEW_SECONDS) {
    return pushError(401, 'JWT has expired');
  }
  if (exp > now + MAX_VAPID_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    return pushError(401, 'JWT exp is more than 24 hours ahead');
  }
  if (typeof sub !== 'string' || !/^(mailto:|https:)/.test(sub)) {
    return pushError(401, 'JWT sub must be a mailto: or https: contact');
  }
  if (boundKey !== undefined && boundKey !== key) {
    return pushError(403, 'The VAPID key is not the one this subscription was created with');
  }
  return { aud, exp, sub, publicKey: key };
}

/**
 * A Web Push service (RFC 8030 + 8291 + 8292) over HTTPS. `createSubscription()` plays the browser:
 * it makes the P-256 key pair and auth secret and keeps the private halves, so the fake can
 * decrypt what the application server sent and tests can compare it with what went in.
 *
 * `POST /push/{id}` → 201 with Location, after checking VAPID, `Content-Encoding: aes128gcm`, TTL,
 * Urgency and Topic. Failures: `recipientErrors` keyed by subscription id with an HTTP status
 * ("404", "410", "400", "413", "429", "5xx"); bodies over 4096 bytes → 413; expired subscriptions
 * → 410; unknown ones → 404. Use `FakeWebPush.start()`, which brings the sandbox certificate.
 */
export class FakeWebPush extends FakeProviderServer {
  readonly name = 'webpush' as const;
  /** The certificate the fake serves; a client trusts the fake with it. */
  readonly caCertPem: string;

  private readonly subscriptions = new Map<string, SubscriptionState>();
  private readonly inspections = new WeakMap<FakeRequest, Inspection>();
  private readonly maxPayloadBytes: number;
  private readonly acks: PushAppAcks;
  private readonly verifiedTokens = new VerifiedTokens(REMEMBERED_VAPID_TOKENS);
  private readonly forwardsPayloads: boolean;

  static async start(options: FakeWebPushOptions = {}): Promise<FakeWebPush> {
    return new FakeWebPush(options, await sandboxTls()).listen();
  }

  constructor(options: FakeWebPushOptions, tls: SandboxTls) {
    super({ ...options, tls });
    this.caCertPem = tls.cert;
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.forwardsPayloads = options.payloads === 'forward';
    this.refuseAcksUnread(options.appAcks);
    this.acks = new PushAppAcks(options.appAcks, options.webhooks, this.random);
  }

  private refuseAcksUnread(acks: PushAppAckOptions | undefined): void {
    if (acks && this.forwardsPayloads) {
      throw new Error(
        'the pretend browser acks from the payload, which payloads: forward leaves unread',
      );
    }
  }

  /** Acks the pretend browser posted, with the gateway's answers. */
  get ackPosts(): readonly WebhookPost[] {
    return this.acks.posts;
  }

  /** Changes how later pushes are acknowledged; undefined: not at all. */
  setAppAcks(options: PushAppAckOptions | undefined): void {
    this.refuseAcksUnread(options);
    this.acks.set(options);
  }

  /** The ingress in front of the gateway (public URL → where it listens). */
  setWebhookRoute(route: WebhookRoute | undefined): void {
    this.acks.setRoute(route);
  }

  /** Resolves once every scheduled ack has been posted (or given up on). */
  webhooksIdle(): Promise<void> {
    return this.acks.idle();
  }

  override reset(): void {
    super.reset();
    this.acks.reset();
  }

  override async close(): Promise<void> {
    await this.acks.close();
    await super.close();
  }

  protected override afterAnswer(
    _request: FakeRequest,
    parsed: ParsedRequest,
    response: FakeResponse,
  ): void {
    if (response.status !== 201 || parsed.recipient === undefined) return;
    this.acks.received(parsed.recipient, webPushAck(parsed.body));
  }

  /**
   * Named by host name, as real push services are: the gateway refuses endpoints whose host is an
   * IP literal, so on 127.0.0.1 the fake calls itself localhost (its certificate names both).
   */
  override get url(): string {
    return super.url.replace('https://127.0.0.1:', 'https://localhost:');
  }

  /**
   * Subscribes a pretend browser. With `applicationServerKey` (base64url, as passed to
   * `pushManager.subscribe`) only pushes signed with that VAPID key are accepted (others: 403).
   */
  createSubscription(
    options: { readonly applicationServerKey?: string } = {},
  ): FakePushSubscription {
    const id = randomBytes(16).toString('base64url');
    const receiver = createECDH('prime256v1');
    receiver.generateKeys();
    const authSecret = randomBytes(16);
    const endpoint = `${this.url}/push/${id}`;
    this.subscriptions.set(id, {
      id,
      endpoint,
      receiver,
      authSecret,
      applicationServerKey: options.applicationServerKey,
      expired: false,
    });
    return {
      id,
      subscription: {
        endpoint,
        expirationTime: null,
        keys: {
          p256dh: receiver.getPublicKey().toString('base64url'),
          auth: authSecret.toString('base64url'),
        },
      },
    };
  }

  /** The user unsubscribed or the browser dropped the subscription: pushes now get 410 Gone. */
  expireSubscription(id: string): void {
    const state = this.subscriptions.get(id);
    if (state) state.expired = true;
  }

  /** Push messages the fake accepted, oldest first, optionally for one subscription. */
  deliveries(subscriptionId?: string): readonly PushDelivery[] {
    return this.requests
      .filter((r) => r.status === 201 && r.providerMessageId !== undefined)
      .filter((r) => subscriptionId === undefined || r.recipient === subscriptionId)
      .map((r) => {
        const params = vapidParams(r.headers.authorization);
        const claims = decodeJson(params?.get('t')?.split('.')[1] ?? '') as Omit<
          VapidClaims,
          'publicKey'
        >;
        return {
          subscriptionId: r.recipient ?? '',
          location: r.providerMessageId ?? '',
          receivedAt: r.receivedAt,
          payload: typeof r.body === 'string' ? r.body : '',
          ttl: Number(r.headers.ttl),
          urgency: r.headers.urgency,
          topic: r.headers.topic,
          vapid: {
            aud: claims.aud,
            exp: claims.exp,
            sub: claims.sub,
            publicKey: params?.get('k') ?? '',
          },
        };
      });
  }

  protected parse(request: FakeRequest): ParsedRequest {
    const id = PUSH_PATH.exec(request.path)?.[1];
    const state = id === undefined ? undefined : this.subscriptions.get(id);
    const inspection = state ? this.inspect(request, state) : {};
    this.inspections.set(request, inspection);
    return { body: inspection.plaintext, recipient: id };
  }

  protected respond(request: FakeRequest, _parsed: ParsedRequest, plan: FailurePlan): FakeResponse {
    const id = PUSH_PATH.exec(request.path)?.[1];
    if (request.method !== 'POST' || id === undefined) return pushError(404, 'Not Found');
    const state = this.subscriptions.get(id);
    if (!state) return pushError(404, 'Subscription not found');
    if (state.expired) return pushError(410, 'Subscription has expired');

    const planned = plan.recipientErrors?.[id];
    if (planned !== undefined) return this.plannedRecipientError(planned, plan);

    const vapid = checkVapid(
      request.headers.authorization,
      new URL(this.url).origin,
      state.applicationServerKey,
      this.verifiedTokens,
    );
    if ('status' in vapid) return vapid;

    const { headers } = request;
    const ttl = headers.ttl;
    if (ttl === undefined || !/^\d+$/.test(ttl)) {
      return pushError(400, 'A TTL header with a non-negative integer is required');
    }
    if (headers.urgency !== undefined && !URGENCIES.has(headers.urgency)) {
      return pushError(400, `Unknown Urgency ${headers.urgency}`);
    }
    if (headers.topic !== undefined && !TOPIC.test(headers.topic)) {
      return pushError(400, 'Topic must be at most 32 URL-safe base64 characters');
    }
    if (request.rawBody.length > this.maxPayloadBytes) {
      return pushError(413, `Payload exceeds ${this.maxPayloadBytes} bytes`);
    }
    if (request.rawBody.length > 0) {
      if (headers['content-encoding']?.toLowerCase() !== 'aes128gcm') {
        return pushError(400, 'Content-Encoding must be aes128gcm');
      }
      const inspection = this.inspections.get(request);
      if (!inspection || inspection.refusal !== undefined) {
        return pushError(400, inspection?.refusal ?? 'Payload could not be read');
      }
    }
    const location = `${this.url}/message/${randomUUID()}`;
    return { status: 201, headers: { location, ttl }, providerMessageId: location };
  }

  protected failureResponse(failure: PlannedFailure): FakeResponse {
    const headers =
      failure.status === 429
        ? retryAfterHeaders(failure.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS)
        : undefined;
    return pushError(failure.status, REASONS[failure.status] ?? 'Failure', headers);
  }

  private plannedRecipientError(code: string, plan: FailurePlan): FakeResponse {
    const parsed = Number(code);
    const status = Number.isInteger(parsed) && parsed >= 400 && parsed <= 599 ? parsed : 400;
    const headers =
      status === 429
        ? retryAfterHeaders(plan.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS)
        : undefined;
    return pushError(status, REASONS[status] ?? `Error ${code}`, headers);
  }

  private inspect(request: FakeRequest, state: SubscriptionState): Inspection {
    if (request.rawBody.length === 0) return {};
    if (this.forwardsPayloads) {
      const problem = aes128gcmProblem(request.rawBody);
      return problem === undefined ? {} : { refusal: `Payload is not aes128gcm: ${problem}` };
    }
    try {
      const plaintext = ece.decrypt(request.rawBody, {
        version: 'aes128gcm',
        privateKey: state.receiver,
        authSecret: state.authSecret,
      });
      return { plaintext: plaintext.toString('utf8') };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { refusal: `Payload could not be decrypted: ${reason}` };
    }
  }
}
