import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type SecureContext } from 'node:tls';
import {
  deleteApp,
  initializeApp,
  type App,
  type Credential,
  type GoogleOAuthAccessToken,
} from 'firebase-admin/app';
import { getMessaging, type Messaging, type TokenMessage } from 'firebase-admin/messaging';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';
import { contextTrusting } from '../extra-trust';
import type { PushAckIssuer } from '../push-ack-token';
import {
  classifyNetworkCode,
  configurationError,
  describeNetworkFailure,
  failureBuilder,
  isRecord,
  kindForHttpStatus,
  NETWORK_ERROR_KINDS,
  parseRetryAfterMs,
  requireOption,
  requireRequestTimeout,
  TLS_ERROR_CODES,
  withoutMessage,
  withTimeout,
  type ErrorKindTable,
  type NetworkFailureWording,
} from './shared';

export { parseRetryAfterMs };

/** Vendor code → our error kind. */
export type FcmErrorTable = ErrorKindTable;

/**
 * firebase-admin's error codes (and the token endpoint's, prefixed oauth2/) → our kinds. Codes not
 * listed fall back on the HTTP status: 2xx outcome_unknown (an answer we could not read), 429
 * rate_limited, 401/403 configuration, 5xx transient, anything else permanent. Failures without an
 * HTTP answer: FCM_NETWORK_ERROR_KINDS.
 */
export const FCM_ERROR_KINDS = {
  // UNREGISTERED (404): the app was uninstalled or the token expired; delete the token.
  'messaging/registration-token-not-registered': 'unreachable_token',
  // INVALID_ARGUMENT whose field violation is message.token: the address itself is malformed.
  'messaging/invalid-registration-token': 'invalid_recipient',
  // Any other INVALID_ARGUMENT (400): the message is wrong and would be wrong on every retry.
  'messaging/invalid-argument': 'permanent',
  // SENDER_ID_MISMATCH / PERMISSION_DENIED (403). firebase-admin reports a token of another
  // project and a credential lacking permission with the same code. Treating it as configuration
  // keeps tokens: were it unreachable_token, one wrong service account would delete every token.
  'messaging/mismatched-credential': 'configuration',
  // QUOTA_EXCEEDED / RESOURCE_EXHAUSTED (429), with Retry-After.
  'messaging/message-rate-exceeded': 'rate_limited',
  'messaging/server-unavailable': 'transient', // UNAVAILABLE (503)
  'messaging/internal-error': 'transient', // INTERNAL (500)
  // THIRD_PARTY_AUTH_ERROR (401): the APNs certificate / web push credentials in the Firebase
  // project are wrong. firebase-admin also reports a rejected access token (401 UNAUTHENTICATED)
  // with this code.
  'messaging/third-party-auth-error': 'configuration',
  // Google's token endpoint refused the service account's assertion (revoked key, wrong key, clock).
  'oauth2/invalid_grant': 'configuration',
} as const satisfies FcmErrorTable;

/**
 * What each code means, in our words. ChannelError messages are built from these, never from the
 * text FCM or firebase-admin return, which may quote the registration token.
 */
export const FCM_ERROR_DESCRIPTIONS = {
  'messaging/registration-token-not-registered': 'registration token no longer registered',
  'messaging/invalid-registration-token': 'registration token is not valid',
  'messaging/invalid-argument': 'message refused as invalid',
  'messaging/mismatched-credential': 'token of another project, or credential lacks permission',
  'messaging/message-rate-exceeded': 'sending quota exceeded',
  'messaging/server-unavailable': 'FCM unavailable',
  'messaging/internal-error': 'FCM internal error',
  'messaging/third-party-auth-error':
    'APNs or web push credentials refused, or access token refused',
  'oauth2/invalid_grant': "Google refused the service account's assertion",
} as const satisfies Readonly<Record<keyof typeof FCM_ERROR_KINDS, string>>;

/**
 * Errors without an FCM answer (Node error codes, and TIMEOUT when requestTimeoutMs passed). Only
 * failures before the request was written are worth another provider; once the connection carried
 * the send, FCM may have taken the message and sending it anywhere else could deliver it twice.
 * TLS verification failures are configuration; any other code is outcome_unknown. Failures of the
 * token exchange come before the message is sent, so they are never outcome_unknown.
 */
export const FCM_NETWORK_ERROR_KINDS = {
  ...NETWORK_ERROR_KINDS, // ETIMEDOUT there is also firebase-admin's own request timeout
  TIMEOUT: 'outcome_unknown', // ours: no answer within requestTimeoutMs
} as const satisfies FcmErrorTable;

/** Our vendor code for a 2xx whose body we could not read (not JSON, or no message name). */
export const FCM_UNREADABLE_RESPONSE = 'UNREADABLE_RESPONSE';

/** A service account key file's fields the adapter uses (the file Google Cloud console downloads). */
export interface FcmServiceAccount {
  readonly project_id: string;
  readonly client_email: string;
  readonly private_key: string;
  /** Sent as the assertion's `kid` when present, so Google checks the right key. */
  readonly private_key_id?: string;
}

/** Base URLs that stand in for Google's two fixed hosts (the sandbox). */
export interface FcmEndpointOverride {
  /** Instead of https://fcm.googleapis.com */
  readonly fcm: string;
  /** Instead of https://oauth2.googleapis.com */
  readonly oauth2: string;
}

export interface FcmPushAdapterOptions {
  /** Names this configured provider, e.g. "fcm". */
  readonly providerId: string;
  readonly serviceAccount: FcmServiceAccount;
  /** Where to connect instead of Google (the sandbox); unset in production. */
  readonly endpointOverride?: FcmEndpointOverride;
  /** An extra CA to trust, e.g. the sandbox certificate. */
  readonly caCertPem?: string;
  /** Whole-send timeout, token exchange included. firebase-admin's own limit is 15 s. */
  readonly requestTimeoutMs: number;
  /** Connections kept open to FCM (default 50). */
  readonly maxSockets?: number;
  /**
   * Categories whose messages replace each other while undelivered (Android collapse key and
   * notification tag, apns-collapse-id), e.g. a delivery ETA. Other messages never collapse.
   */
  readonly collapseCategories?: readonly string[];
  /**
   * Puts a signed ack token into every push (data omnigate_ack_url / omnigate_ack_token), which
   * the app posts back on display and on open; unset when WEBHOOK_PUBLIC_BASE_URL is.
   */
  readonly ack?: PushAckIssuer;
}

/** The data keys the app reads the ack from (see the README, "Provider webhooks"). */
export const FCM_ACK_URL_KEY = 'omnigate_ack_url';
export const FCM_ACK_TOKEN_KEY = 'omnigate_ack_token';

const FCM_HOST = 'fcm.googleapis.com';
const OAUTH2_HOST = 'oauth2.googleapis.com';
const GOOGLE_TOKEN_URL = `https://${OAUTH2_HOST}/token`;
// The narrowest scope that allows messages:send; firebase-admin's own credential asks for five.
const TOKEN_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_SECONDS = 3600;
const APNS_COLLAPSE_ID_MAX_BYTES = 64;
const DEFAULT_MAX_SOCKETS = 50;

const NETWORK_WORDING: NetworkFailureWording = {
  peer: 'FCM',
  mayHaveGone: 'the send may have gone out',
  mayHaveTaken: 'FCM may have taken the message',
  ownTimeout: true,
};

/**
 * The kind for a send that got no FCM answer: the table, then TLS (configuration: our trust store
 * or a proxy is wrong, and retrying will not help), then outcome_unknown.
 */
export function classifyFcmNetworkError(code: string): ChannelErrorKind {
  return classifyNetworkCode(FCM_NETWORK_ERROR_KINDS, code, 'configuration');
}

function errnoCode(error: unknown): string | undefined {
  return isRecord(error) && typeof error.code === 'string' ? error.code : undefined;
}

/** The token endpoint's answer or the reason there was none. */
export class TokenExchangeError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly oauthError?: string,
    readonly networkCode?: string,
  ) {
    super(message);
    this.name = 'TokenExchangeError';
  }
}

function postForm(
  url: string,
  form: string,
  agent: HttpsAgent,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(form),
          accept: 'application/json',
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('timeout', () => {
      const timeout: NodeJS.ErrnoException = new Error(`no answer within ${timeoutMs} ms`);
      timeout.code = 'ETIMEDOUT';
      request.destroy(timeout);
    });
    request.on('error', reject);
    request.end(form);
  });
}

/**
 * A service account credential doing Google's JWT-bearer exchange (RFC 7523) itself: an RS256
 * assertion {iss, scope, aud, iat, exp} posted to oauth2.googleapis.com/token through our agent.
 *
 * Why not firebase-admin's `cert()`: in firebase-admin 14.5 with google-auth-library 11, `cert()`
 * given a key *object* drops its `httpAgent` (GoogleAuth.fromJSON is called without client options),
 * so the exchange could not be routed to a local server or share our connection pool; and
 * google-auth-library loads node-fetch with a dynamic import() that jest refuses without
 * --experimental-vm-modules. This class is used in production too, so tests run the real code path.
 * firebase-admin caches the token and asks again 5 minutes before it expires.
 */
export class ServiceAccountTokenCredential implements Credential {
  private readonly privateKey: KeyObject;

  constructor(
    private readonly account: FcmServiceAccount,
    private readonly agent: HttpsAgent,
    private readonly timeoutMs: number,
  ) {
    this.privateKey = createPrivateKey(account.private_key);
  }

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    const form = new URLSearchParams({
      grant_type: JWT_BEARER_GRANT_TYPE,
      assertion: this.assertion(),
    }).toString();
    let answer: { status: number; body: string };
    try {
      answer = await postForm(GOOGLE_TOKEN_URL, form, this.agent, this.timeoutMs);
    } catch (error) {
      const code = errnoCode(error) ?? 'ERR_NETWORK';
      const reason = error instanceof Error ? error.message : String(error);
      throw new TokenExchangeError(`token exchange failed: ${reason}`, undefined, undefined, code);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    if (
      answer.status === 200 &&
      isRecord(parsed) &&
      typeof parsed.access_token === 'string' &&
      typeof parsed.expires_in === 'number'
    ) {
      return { access_token: parsed.access_token, expires_in: parsed.expires_in };
    }
    const oauthError =
      isRecord(parsed) && typeof parsed.error === 'string' ? parsed.error : undefined;
    const description =
      isRecord(parsed) && typeof parsed.error_description === 'string'
        ? parsed.error_description
        : answer.body.slice(0, 200);
    throw new TokenExchangeError(
      `token endpoint answered HTTP ${answer.status}: ${oauthError ?? ''} ${description}`.trim(),
      answer.status,
      oauthError,
    );
  }

  private assertion(): string {
    const now = Math.floor(Date.now() / 1000);
    const header = {
      alg: 'RS256',
      typ: 'JWT',
      ...(this.account.private_key_id ? { kid: this.account.private_key_id } : {}),
    };
    const claims = {
      iss: this.account.client_email,
      scope: TOKEN_SCOPE,
      aud: GOOGLE_TOKEN_URL,
      iat: now,
      exp: now + ASSERTION_LIFETIME_SECONDS,
    };
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signingInput = `${encode(header)}.${encode(claims)}`;
    const signature = sign('sha256', Buffer.from(signingInput), this.privateKey);
    return `${signingInput}.${signature.toString('base64url')}`;
  }
}

/**
 * An HTTPS agent that connects fcm.googleapis.com and oauth2.googleapis.com to local servers while
 * keeping their names for SNI, certificate checks and the Host header, so the SDK's requests are
 * byte for byte what production sends. Any other host is refused rather than reached for real.
 */
export class GoogleHostRedirectAgent extends HttpsAgent {
  private readonly routes: ReadonlyMap<string, URL>;

  constructor(
    endpoints: FcmEndpointOverride,
    private readonly trusted: SecureContext | undefined,
    maxSockets: number,
  ) {
    super({ keepAlive: true, maxSockets });
    this.routes = new Map([
      [FCM_HOST, new URL(endpoints.fcm)],
      [OAUTH2_HOST, new URL(endpoints.oauth2)],
    ]);
  }

  override createConnection(
    options: RequestOptions,
    _callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex {
    const host = options.hostname ?? options.host ?? '';
    const target = this.routes.get(host);
    if (!target) {
      const socket = new Socket();
      const refused: NodeJS.ErrnoException = new Error(`${host} is not redirected by the sandbox`);
      refused.code = 'ECONNREFUSED';
      process.nextTick(() => socket.destroy(refused));
      return socket;
    }
    return tlsConnect({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 443),
      servername: host,
      secureContext: this.trusted,
      ALPNProtocols: ['http/1.1'],
    });
  }
}

function buildAgent(options: FcmPushAdapterOptions): HttpsAgent {
  const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const trusted = contextTrusting(options.caCertPem);
  if (options.endpointOverride) {
    return new GoogleHostRedirectAgent(options.endpointOverride, trusted, maxSockets);
  }
  return new HttpsAgent({ keepAlive: true, maxSockets, secureContext: trusted });
}

/**
 * firebase-admin retries 503s and ECONNRESET/ETIMEDOUT up to 4 times (honouring Retry-After up to
 * 60 s) inside send(). Retries are the dispatch service's decision, and a retry still running after
 * our timeout fired could deliver a message we reported as failed, so switch them off. The client
 * is internal to firebase-admin 14; the adapter spec proves a 503 reaches the fake exactly once.
 */
function disableSdkRetries(messaging: Messaging): void {
  const handler: unknown = Reflect.get(messaging, 'messagingRequestHandler');
  const client: unknown = isRecord(handler) ? handler.httpClient : undefined;
  if (isRecord(client) && 'retry' in client) client.retry = null;
}

function apnsCollapseId(key: string): string {
  if (Buffer.byteLength(key) <= APNS_COLLAPSE_ID_MAX_BYTES) return key;
  return createHash('sha256').update(key).digest('base64url');
}

/**
 * The FCM message for one outbound push. Priority high → Android high / apns-priority 10, else
 * normal / 5. ttlSeconds → android.ttl and apns-expiration (absolute). The notification tag and
 * apns-collapse-id default to the message id, so a duplicate delivery replaces itself on the device
 * instead of showing twice.
 */
export function buildFcmMessage(
  message: OutboundMessage<'mobilepush'>,
  options: {
    readonly collapse: boolean;
    readonly nowMs?: number;
    readonly ack?: { readonly url: string; readonly token: string };
  },
): TokenMessage {
  const { title, body, imageUrl } = message.content;
  const data = {
    ...message.content.data,
    ...(options.ack
      ? { [FCM_ACK_URL_KEY]: options.ack.url, [FCM_ACK_TOKEN_KEY]: options.ack.token }
      : {}),
  };
  const high = message.priority === 'high';
  const collapseKey = options.collapse ? message.category : undefined;
  const ttl = message.ttlSeconds;
  const nowSeconds = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const apnsHeaders: Record<string, string> = {
    'apns-priority': high ? '10' : '5',
    'apns-collapse-id': apnsCollapseId(collapseKey ?? message.messageId),
  };
  // 0 tells APNs to try once and not store the notification, as android ttl 0 does.
  if (ttl !== undefined) apnsHeaders['apns-expiration'] = String(ttl === 0 ? 0 : nowSeconds + ttl);
  return {
    token: message.address,
    notification: { title, body, ...(imageUrl ? { imageUrl } : {}) },
    ...(Object.keys(data).length > 0 ? { data } : {}),
    android: {
      priority: high ? 'high' : 'normal',
      ...(ttl !== undefined ? { ttl: ttl * 1000 } : {}),
      ...(collapseKey ? { collapseKey } : {}),
      notification: { tag: collapseKey ?? message.messageId },
    },
    apns: {
      headers: apnsHeaders,
      // An image on iOS needs mutable-content so the app's notification extension can fetch it.
      ...(imageUrl ? { payload: { aps: { mutableContent: true } }, fcmOptions: { imageUrl } } : {}),
    },
  };
}

function httpStatusOf(error: unknown): number | undefined {
  const response = isRecord(error) ? error.httpResponse : undefined;
  return isRecord(response) && typeof response.status === 'number' ? response.status : undefined;
}

function retryAfterOf(error: unknown): number | undefined {
  const response = isRecord(error) ? error.httpResponse : undefined;
  const headers = isRecord(response) ? response.headers : undefined;
  return parseRetryAfterMs(isRecord(headers) ? headers['retry-after'] : undefined);
}

/** Whether FCM's BadRequest details blame message.token (FCM v1's way of saying "bad token"). */
function blamesToken(error: unknown): boolean {
  const response = isRecord(error) ? error.httpResponse : undefined;
  const data = isRecord(response) ? response.data : undefined;
  const body = isRecord(data) ? data.error : undefined;
  const details = isRecord(body) && Array.isArray(body.details) ? (body.details as unknown[]) : [];
  return details.some(
    (detail) =>
      isRecord(detail) &&
      Array.isArray(detail.fieldViolations) &&
      (detail.fieldViolations as unknown[]).some(
        (violation) => isRecord(violation) && violation.field === 'message.token',
      ),
  );
}

/**
 * Mobile push through Firebase Cloud Messaging HTTP v1 with firebase-admin. Each adapter owns a
 * *named* firebase-admin app (never the default app), its own credential and connection pool, so
 * two adapters never share state; `close()` deletes the app.
 */
export class FcmPushAdapter implements ChannelAdapter<'mobilepush'> {
  readonly channel = 'mobilepush' as const;
  readonly providerId: string;
  private readonly app: App;
  private readonly messaging: Messaging;
  private readonly agent: HttpsAgent;
  private readonly timeoutMs: number;
  private readonly collapseCategories: ReadonlySet<string>;
  private readonly ack: PushAckIssuer | undefined;

  constructor(options: FcmPushAdapterOptions) {
    const providerId = requireOption('fcm', 'providerId', options.providerId);
    if (!isRecord(options.serviceAccount)) {
      throw configurationError(providerId, 'missing option "serviceAccount"');
    }
    const account = options.serviceAccount;
    const projectId = requireOption(providerId, 'serviceAccount.project_id', account.project_id);
    requireOption(providerId, 'serviceAccount.client_email', account.client_email);
    requireOption(providerId, 'serviceAccount.private_key', account.private_key);
    requireRequestTimeout(providerId, options.requestTimeoutMs);
    if (options.endpointOverride !== undefined) {
      for (const name of ['fcm', 'oauth2'] as const) {
        const url: unknown = options.endpointOverride[name];
        if (typeof url !== 'string' || !URL.canParse(url)) {
          throw configurationError(providerId, `option "endpointOverride.${name}" is not a URL`);
        }
      }
    }
    this.providerId = providerId;
    this.timeoutMs = options.requestTimeoutMs;
    this.collapseCategories = new Set(options.collapseCategories ?? []);
    this.ack = options.ack;
    this.agent = buildAgent(options);
    let credential: ServiceAccountTokenCredential;
    try {
      credential = new ServiceAccountTokenCredential(account, this.agent, this.timeoutMs);
    } catch {
      this.agent.destroy();
      throw configurationError(providerId, 'serviceAccount.private_key is not a readable PEM key');
    }
    // A unique name: a second adapter (or a re-created one) never collides with or reuses this app.
    this.app = initializeApp(
      { credential, httpAgent: this.agent, projectId },
      `omnigate-${providerId}-${randomUUID()}`,
    );
    this.messaging = getMessaging(this.app);
    disableSdkRetries(this.messaging);
  }

  async send(message: OutboundMessage<'mobilepush'>): Promise<ProviderAcceptance> {
    if (message.address.trim() === '') {
      throw new ChannelError(`${this.providerId}: empty FCM registration token`, {
        kind: 'invalid_recipient',
        provider: this.providerId,
      });
    }
    const ack = this.ack;
    const fcmMessage = buildFcmMessage(message, {
      collapse: this.collapseCategories.has(message.category),
      ...(ack && {
        ack: {
          url: ack.url,
          token: ack.issue({
            messageId: message.messageId,
            channel: 'mobilepush',
            providerId: this.providerId,
          }),
        },
      }),
    });
    let name: unknown;
    try {
      name = await withTimeout(
        this.messaging.send(fcmMessage),
        this.timeoutMs,
        () =>
          new ChannelError(
            `${this.providerId}: FCM did not answer within ${this.timeoutMs} ms; FCM may have taken the message`,
            {
              kind: classifyFcmNetworkError('TIMEOUT'),
              provider: this.providerId,
              vendorCode: 'TIMEOUT',
            },
          ),
      );
    } catch (error) {
      throw this.translate(error);
    }
    if (typeof name !== 'string' || name === '') {
      // FCM answered 200 but without the message name: it probably took the message, and sending
      // again anywhere could deliver it twice.
      throw new ChannelError(
        `${this.providerId}: FCM answered without a message name; FCM may have taken the message`,
        { kind: 'outcome_unknown', provider: this.providerId, vendorCode: FCM_UNREADABLE_RESPONSE },
      );
    }
    return { provider: this.providerId, providerMessageId: name, acceptedAt: new Date() };
  }

  /** Deletes the firebase-admin app and closes pooled connections. */
  async close(): Promise<void> {
    await deleteApp(this.app);
    this.agent.destroy();
  }

  /**
   * Messages hold codes, statuses and our own words: never FCM's or firebase-admin's text (which
   * may quote the token), never the token. Causes are rebuilt for the same reason, and because
   * firebase-admin's errors carry the request, Authorization header included.
   */
  private translate(error: unknown): ChannelError {
    if (error instanceof ChannelError) return error;
    const provider = this.providerId;
    const code = errnoCode(error);
    const fail = failureBuilder(provider, (vendorCode) => new Error(vendorCode));

    if (code === 'app/invalid-credential') {
      const cause = isRecord(error) ? error.cause : undefined;
      if (!(cause instanceof TokenExchangeError)) {
        return fail('configuration', code, 'FCM credential failed');
      }
      // The token exchange comes before the send: whatever went wrong, the message was not sent.
      if (cause.networkCode !== undefined) {
        const networkCode = cause.networkCode;
        const tls = TLS_ERROR_CODES.has(networkCode);
        return fail(
          tls ? 'configuration' : 'transient',
          `oauth2/${networkCode}`,
          tls
            ? `TLS handshake with the token endpoint failed (${networkCode}); nothing was sent`
            : `no answer from the token endpoint (${networkCode}); nothing was sent`,
          // Node's words about the socket, e.g. "connect ECONNREFUSED 127.0.0.1:443".
          { cause: new Error(cause.message) },
        );
      }
      const status = cause.status ?? 0;
      const vendorCode = cause.oauthError ? `oauth2/${cause.oauthError}` : `oauth2/http-${status}`;
      const listed = (FCM_ERROR_KINDS as FcmErrorTable)[vendorCode];
      // A 4xx from the token endpoint means our credential is wrong, not this message.
      const kind =
        listed ?? (status === 429 ? 'rate_limited' : status >= 500 ? 'transient' : 'configuration');
      const description =
        (FCM_ERROR_DESCRIPTIONS as Readonly<Record<string, string>>)[vendorCode] ??
        'access token refused';
      return fail(kind, vendorCode, `token endpoint answered HTTP ${status}: ${description}`);
    }
    if (code === 'app/network-error' || code === 'app/network-timeout') {
      const inner = isRecord(error) ? error.cause : undefined;
      const networkCode =
        errnoCode(inner) ?? (code === 'app/network-timeout' ? 'ETIMEDOUT' : 'ERR_NETWORK');
      const kind = classifyFcmNetworkError(networkCode);
      return fail(kind, networkCode, describeNetworkFailure(networkCode, kind, NETWORK_WORDING), {
        // Node's words about the socket ("socket hang up"), not firebase-admin's error.
        cause: new Error(
          `${networkCode}: ${inner instanceof Error ? inner.message : 'no further detail'}`,
        ),
      });
    }
    if (code?.startsWith('messaging/')) {
      const status = httpStatusOf(error);
      if (status !== undefined && status >= 200 && status < 300) {
        // firebase-admin could not read a 2xx (not JSON): FCM probably took the message.
        return fail(
          'outcome_unknown',
          code,
          `FCM answered HTTP ${status} with a body we could not read; FCM may have taken the message`,
        );
      }
      const vendorCode =
        code === 'messaging/invalid-argument' && blamesToken(error)
          ? 'messaging/invalid-registration-token'
          : code;
      const kind = (FCM_ERROR_KINDS as FcmErrorTable)[vendorCode] ?? kindForHttpStatus(status);
      const description =
        (FCM_ERROR_DESCRIPTIONS as Readonly<Record<string, string>>)[vendorCode] ??
        (status === undefined ? 'refused before sending' : 'unexpected answer');
      const http = status === undefined ? '' : ` (HTTP ${status})`;
      return fail(kind, vendorCode, `FCM error ${vendorCode}${http}: ${description}`, {
        retryAfterMs: kind === 'rate_limited' ? retryAfterOf(error) : undefined,
      });
    }
    // Thrown before a request went out (an SDK validation error or a bug): a retry cannot help.
    return fail('permanent', code ?? 'UNKNOWN', 'FCM send failed before sending', {
      cause: withoutMessage(error),
    });
  }
}
