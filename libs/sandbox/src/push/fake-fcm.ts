import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
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
import { fcmAck, PushAppAcks, type PushAppAckOptions } from './app-acks';
import { sandboxTls, type SandboxTls } from './tls';

/** The audience Google's token endpoint requires in a service account's JWT assertion. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';

/** A service account key file as the Google Cloud console downloads it (the fields the SDKs read). */
export interface FakeServiceAccount {
  readonly type: 'service_account';
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly token_uri: string;
}

/** The HTTP status and canonical status FCM pairs with each of its FcmError codes. */
export interface FcmErrorSpec {
  readonly status: number;
  readonly canonical: string;
  readonly message: string;
}

/**
 * FCM HTTP v1 error codes the fake answers for `recipientErrors` (keyed by registration token).
 * Any other code is answered 400 FAILED_PRECONDITION with that errorCode, standing for a code FCM
 * may add later.
 */
export const FCM_ERROR_RESPONSES: Readonly<Record<string, FcmErrorSpec>> = {
  UNREGISTERED: { status: 404, canonical: 'NOT_FOUND', message: 'Requested entity was not found.' },
  INVALID_ARGUMENT: {
    status: 400,
    canonical: 'INVALID_ARGUMENT',
    message: 'Request contains an invalid argument.',
  },
  SENDER_ID_MISMATCH: { status: 403, canonical: 'PERMISSION_DENIED', message: 'SenderId mismatch' },
  QUOTA_EXCEEDED: {
    status: 429,
    canonical: 'RESOURCE_EXHAUSTED',
    message: 'Quota exceeded for quota metric "Send requests" of service fcm.googleapis.com.',
  },
  UNAVAILABLE: {
    status: 503,
    canonical: 'UNAVAILABLE',
    message: 'The service is currently unavailable.',
  },
  INTERNAL: { status: 500, canonical: 'INTERNAL', message: 'Internal error encountered.' },
  THIRD_PARTY_AUTH_ERROR: {
    status: 401,
    canonical: 'UNAUTHENTICATED',
    message: 'Auth error from APNS or Web Push Service',
  },
};

/** A message as firebase-admin puts it on the wire (snake_case where the API wants it). */
export interface FcmWireMessage {
  readonly token?: string;
  readonly topic?: string;
  readonly condition?: string;
  readonly notification?: {
    readonly title?: string;
    readonly body?: string;
    readonly image?: string;
  };
  readonly data?: Readonly<Record<string, string>>;
  readonly android?: {
    readonly priority?: string;
    readonly ttl?: string;
    readonly collapse_key?: string;
    readonly notification?: Readonly<Record<string, unknown>>;
  };
  readonly apns?: {
    readonly headers?: Readonly<Record<string, string>>;
    readonly payload?: Readonly<Record<string, unknown>>;
  };
  readonly webpush?: Readonly<Record<string, unknown>>;
}

export interface FcmSendRequestBody {
  readonly message: FcmWireMessage;
  readonly validate_only?: boolean;
}

/** One call to the fake token endpoint. */
export interface TokenExchangeRecord {
  readonly receivedAt: string;
  readonly status: number;
  readonly clientEmail?: string;
  readonly scopes?: readonly string[];
  /** The OAuth error the fake answered with (invalid_grant, …). */
  readonly error?: string;
}

export interface FakeFcmOptions extends Omit<FakeServerOptions, 'tls'> {
  /** The Firebase project of the service account the fake mints; default "omnigate-sandbox". */
  readonly projectId?: string;
  /** Lifetime of issued access tokens; Google's is 3599 s. */
  readonly accessTokenLifetimeSeconds?: number;
  /** The pretend mobile app acknowledges pushes that carry an ack (nothing when omitted). */
  readonly appAcks?: PushAppAckOptions;
  /** Retries, timeouts and the ingress in front of the gateway, for the acks. */
  readonly webhooks?: WebhookDeliveryOptions;
}

/** Where the SDK's two hosts are served locally. */
export interface FcmEndpoints {
  /** Stands in for https://fcm.googleapis.com */
  readonly fcm: string;
  /** Stands in for https://oauth2.googleapis.com */
  readonly oauth2: string;
}

interface KnownAccount {
  readonly projectId: string;
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

interface AccessGrant {
  readonly clientEmail: string;
  readonly projectId: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number;
}

interface TokenFailure {
  readonly status: number;
  remaining: number;
}

interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
// Real tokens are base64url-ish with colons; anything else (spaces, punctuation) is not a token.
const REGISTRATION_TOKEN = /^[A-Za-z0-9_:.-]{1,4096}$/;
const DURATION = /^\d+(\.\d{1,9})?s$/;
const MESSAGE_FIELDS = new Set([
  'name',
  'data',
  'notification',
  'android',
  'webpush',
  'apns',
  'fcm_options',
  'fcmOptions',
  'token',
  'topic',
  'condition',
]);
// FCM's limit for the notification and data parts of one message.
const MAX_PAYLOAD_BYTES = 4096;
const DEFAULT_RETRY_AFTER_SECONDS = 30;
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
const CLOCK_SKEW_SECONDS = 300;
// As in the core server: longer than any client's idle keep-alive.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((entry) => typeof entry === 'string');
}

function googleError(
  status: number,
  canonical: string,
  message: string,
  options: {
    errorCode?: string;
    violations?: readonly FieldViolation[];
    headers?: Record<string, string>;
  } = {},
): FakeResponse {
  const details: Record<string, unknown>[] = [];
  if (options.errorCode) details.push({ '@type': FCM_ERROR_TYPE, errorCode: options.errorCode });
  if (options.violations) {
    details.push({ '@type': BAD_REQUEST_TYPE, fieldViolations: options.violations });
  }
  return {
    status,
    headers: options.headers,
    body: {
      error: {
        code: status,
        message,
        status: canonical,
        ...(details.length > 0 ? { details } : {}),
      },
    },
  };
}

/** Google's front end answers some failures with an HTML page, not the API's JSON. */
function frontEndPage(status: number, title: string): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'text/html; charset=UTF-8' },
    body: `<!DOCTYPE html><html lang=en><title>Error ${status} (${title})!!1</title><p><b>${status}.</b> That’s an error.</html>`,
  };
}

function fcmErrorFor(code: string, retryAfterSeconds: number | undefined): FakeResponse {
  const spec = FCM_ERROR_RESPONSES[code];
  if (!spec) {
    return googleError(400, 'FAILED_PRECONDITION', `Error ${code}`, { errorCode: code });
  }
  const headers =
    spec.status === 429
      ? retryAfterHeaders(retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS)
      : undefined;
  return googleError(spec.status, spec.canonical, spec.message, { errorCode: code, headers });
}

function payloadBytes(message: Record<string, unknown>): number {
  const counted = { notification: message.notification, data: message.data };
  return Buffer.byteLength(JSON.stringify(counted));
}

/** The first thing FCM would reject in a send request, as a BadRequest field violation. */
function findViolation(body: unknown): FieldViolation | undefined {
  if (!isRecord(body) || !isRecord(body.message)) {
    return { field: 'message', description: 'Request must contain a message object' };
  }
  if (body.validate_only !== undefined && typeof body.validate_only !== 'boolean') {
    return { field: 'validate_only', description: 'Expected a boolean' };
  }
  const message = body.message;
  const unknown = Object.keys(message).find((key) => !MESSAGE_FIELDS.has(key));
  if (unknown) {
    return { field: `message.${unknown}`, description: `Unknown name "${unknown}"` };
  }
  const targets = ['token', 'topic', 'condition'].filter((key) => message[key] !== undefined);
  if (targets.length !== 1) {
    return {
      field: 'message',
      description: 'Exactly one of token, topic or condition is required',
    };
  }
  if (message.token !== undefined) {
    if (typeof message.token !== 'string' || !REGISTRATION_TOKEN.test(message.token)) {
      return {
        field: 'message.token',
        description: 'The registration token is not a valid FCM registration token',
      };
    }
  }
  if (message.notification !== undefined && !isStringRecord(message.notification)) {
    return { field: 'message.notification', description: 'Notification fields must be strings' };
  }
  if (message.data !== undefined && !isStringRecord(message.data)) {
    return { field: 'message.data', description: 'Data values must be strings' };
  }
  const android = message.android;
  if (android !== undefined) {
    if (!isRecord(android)) return { field: 'message.android', description: 'Expected an object' };
    const { priority, ttl } = android;
    // The API takes the enum in either case; firebase-admin sends it lower-case.
    if (
      priority !== undefined &&
      (typeof priority !== 'string' || !['HIGH', 'NORMAL'].includes(priority.toUpperCase()))
    ) {
      return { field: 'message.android.priority', description: 'Invalid priority' };
    }
    if (ttl !== undefined && (typeof ttl !== 'string' || !DURATION.test(ttl))) {
      return { field: 'message.android.ttl', description: 'Invalid duration, e.g. "3600s"' };
    }
  }
  const apns = message.apns;
  if (apns !== undefined) {
    if (!isRecord(apns)) return { field: 'message.apns', description: 'Expected an object' };
    if (apns.headers !== undefined) {
      if (!isStringRecord(apns.headers)) {
        return { field: 'message.apns.headers', description: 'Header values must be strings' };
      }
      const priority = apns.headers['apns-priority'];
      if (priority !== undefined && !['1', '5', '10'].includes(priority)) {
        return { field: 'message.apns.headers', description: 'Invalid apns-priority' };
      }
      const expiration = apns.headers['apns-expiration'];
      if (expiration !== undefined && !/^\d+$/.test(expiration)) {
        return { field: 'message.apns.headers', description: 'Invalid apns-expiration' };
      }
    }
  }
  if (payloadBytes(message) > MAX_PAYLOAD_BYTES) {
    return { field: 'message', description: 'Message is too big' };
  }
  return undefined;
}

function decodeJsonSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

function oauthError(status: number, error: string, description: string): FakeResponse {
  return { status, body: { error, error_description: description } };
}

/**
 * Firebase Cloud Messaging HTTP v1 as firebase-admin 14 calls it, plus Google's OAuth 2.0 token
 * endpoint for service accounts, on two local HTTPS ports (the SDK's two fixed hosts).
 *
 * - `POST /v1/projects/{projectId}/messages:send` with `Authorization: Bearer <access token>` and
 *   `{message, validate_only?}` → 200 `{name: "projects/{p}/messages/{id}"}`, or Google's error
 *   shape `{error: {code, message, status, details: [FcmError, BadRequest?]}}`.
 * - `POST /token` (form: grant_type=jwt-bearer, assertion=RS256 JWT) verified against the public
 *   key of a service account the fake minted → `{access_token, expires_in, token_type}`.
 *
 * The failure plan applies to sends only; the token endpoint fails only through setTokenFailure.
 * Use `FakeFcm.start()`, which brings the sandbox certificate.
 */
export class FakeFcm extends FakeProviderServer {
  readonly name = 'fcm' as const;
  readonly projectId: string;
  /** The account the fake minted at start; point the adapter's `serviceAccount` at it. */
  readonly serviceAccount: FakeServiceAccount;
  /** The certificate both ports serve; a client trusts the fake with it (`ca`). */
  readonly caCertPem: string;

  private readonly accounts = new Map<string, KnownAccount>();
  private readonly grants = new Map<string, AccessGrant>();
  private readonly tokenLog: TokenExchangeRecord[] = [];
  private readonly tokenServer: Server;
  private readonly accessTokenLifetimeSeconds: number;
  private tokenFailure: TokenFailure | undefined;
  private oauthBaseUrl: string | undefined;
  private readonly acks: PushAppAcks;

  /** Starts a fake on free ports of 127.0.0.1 with the sandbox certificate. */
  static async start(options: FakeFcmOptions = {}): Promise<FakeFcm> {
    return new FakeFcm(options, await sandboxTls()).listen();
  }

  constructor(options: FakeFcmOptions, tls: SandboxTls) {
    super({ ...options, tls });
    this.projectId = options.projectId ?? 'omnigate-sandbox';
    this.accessTokenLifetimeSeconds = options.accessTokenLifetimeSeconds ?? 3599;
    this.caCertPem = tls.cert;
    this.serviceAccount = this.createServiceAccount();
    this.tokenServer = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
      this.handleTokenRequest(request, response).catch((error: unknown) => {
        response.destroy(error instanceof Error ? error : undefined);
      });
    });
    this.tokenServer.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.acks = new PushAppAcks(options.appAcks, options.webhooks, this.random);
  }

  /** Acks the pretend app posted, with the gateway's answers. */
  get ackPosts(): readonly WebhookPost[] {
    return this.acks.posts;
  }

  /** Changes how later pushes are acknowledged; undefined: not at all. */
  setAppAcks(options: PushAppAckOptions | undefined): void {
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

  protected override afterAnswer(
    _request: FakeRequest,
    parsed: ParsedRequest,
    response: FakeResponse,
  ): void {
    // validate_only answers carry no providerMessageId: nothing reached a device.
    if (response.status !== 200 || response.providerMessageId === undefined) return;
    const message = (parsed.body as FcmSendRequestBody).message;
    this.acks.received(parsed.recipient ?? '', fcmAck(message.data));
  }

  override async listen(port = 0, host = '127.0.0.1'): Promise<this> {
    await super.listen(port, host);
    await new Promise<void>((resolve, reject) => {
      this.tokenServer.once('error', reject);
      this.tokenServer.listen(0, host, () => {
        this.tokenServer.off('error', reject);
        resolve();
      });
    });
    const address = this.tokenServer.address() as AddressInfo;
    this.oauthBaseUrl = `https://${address.address}:${address.port}`;
    return this;
  }

  /** Base URLs for the adapter's `endpointOverride`. */
  get endpoints(): FcmEndpoints {
    if (this.oauthBaseUrl === undefined) throw new Error('fcm fake is not listening yet');
    return { fcm: this.url, oauth2: this.oauthBaseUrl };
  }

  get tokenUrl(): string {
    return `${this.endpoints.oauth2}/token`;
  }

  get tokenRequests(): readonly TokenExchangeRecord[] {
    return this.tokenLog;
  }

  /** Messages FCM accepted for delivery (validate_only requests excluded), oldest first. */
  get messages(): readonly FcmWireMessage[] {
    return this.requests
      .filter((r) => r.status === 200 && r.providerMessageId !== undefined)
      .map((r) => (r.body as FcmSendRequestBody).message);
  }

  /**
   * Mints a service account the token endpoint will accept: a fresh RSA key pair, the private half
   * returned in the key file, the public half kept to verify assertions.
   */
  createServiceAccount(projectId = this.projectId): FakeServiceAccount {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyId = randomBytes(20).toString('hex');
    const clientEmail = `sandbox-${randomBytes(4).toString('hex')}@${projectId}.iam.gserviceaccount.com`;
    this.accounts.set(clientEmail, { projectId, keyId, publicKey });
    return {
      type: 'service_account',
      project_id: projectId,
      private_key_id: keyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
      token_uri: GOOGLE_TOKEN_URL,
    };
  }

  /**
   * Forgets access tokens issued so far (all, or those of one client_email): the next send with
   * one gets 401 UNAUTHENTICATED, as after Google revoked them.
   */
  revokeAccessTokens(clientEmail?: string): void {
    for (const [token, grant] of this.grants) {
      if (clientEmail === undefined || grant.clientEmail === clientEmail) this.grants.delete(token);
    }
  }

  /** Makes the token endpoint answer `status` (`count` times, or until cleared with undefined). */
  setTokenFailure(failure?: { readonly status: number; readonly count?: number }): void {
    this.tokenFailure = failure
      ? { status: failure.status, remaining: failure.count ?? Number.POSITIVE_INFINITY }
      : undefined;
  }

  override reset(): void {
    super.reset();
    this.acks.reset();
    this.tokenLog.length = 0;
    this.tokenFailure = undefined;
  }

  override async close(): Promise<void> {
    await this.acks.close();
    if (this.tokenServer.listening) {
      const closed = new Promise<void>((resolve, reject) =>
        this.tokenServer.close((error) => (error ? reject(error) : resolve())),
      );
      this.tokenServer.closeAllConnections();
      await closed;
    }
    await super.close();
  }

  protected parse(request: FakeRequest): ParsedRequest {
    const body: unknown = JSON.parse(request.rawBody.toString('utf8'));
    const message = isRecord(body) && isRecord(body.message) ? body.message : undefined;
    const token = typeof message?.token === 'string' ? message.token : undefined;
    return { body, recipient: token };
  }

  protected respond(request: FakeRequest, parsed: ParsedRequest, plan: FailurePlan): FakeResponse {
    const route = SEND_PATH.exec(request.path);
    if (request.method !== 'POST' || !route?.[1]) return frontEndPage(404, 'Not Found');
    const projectId = decodeURIComponent(route[1]);

    const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    const grant = bearer === undefined ? undefined : this.grants.get(bearer);
    if (!grant || grant.expiresAt <= Date.now()) {
      return googleError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login ' +
          'cookie or other valid authentication credential.',
      );
    }
    if (!grant.scopes.includes(FCM_SCOPE) && !grant.scopes.includes(CLOUD_PLATFORM_SCOPE)) {
      return googleError(
        403,
        'PERMISSION_DENIED',
        'Request had insufficient authentication scopes.',
      );
    }
    if (grant.projectId !== projectId) {
      // Google answers 403 for projects the caller cannot see, whether or not they exist.
      return googleError(
        403,
        'PERMISSION_DENIED',
        `Permission 'cloudmessaging.messages.create' denied on resource ` +
          `'//cloudresourcemanager.googleapis.com/projects/${projectId}' (or it may not exist).`,
      );
    }

    const violation = findViolation(parsed.body);
    if (violation) {
      return googleError(400, 'INVALID_ARGUMENT', violation.description, {
        errorCode: 'INVALID_ARGUMENT',
        violations: [violation],
      });
    }
    const code =
      parsed.recipient === undefined ? undefined : plan.recipientErrors?.[parsed.recipient];
    if (code !== undefined) return fcmErrorFor(code, plan.retryAfterSeconds);

    const body = parsed.body as FcmSendRequestBody;
    if (body.validate_only === true) {
      // What FCM answers to a dry run: a well-formed name that was never delivered.
      return { status: 200, body: { name: `projects/${projectId}/messages/fake_message_id` } };
    }
    const id = `0:${Date.now()}${randomBytes(3).readUIntBE(0, 3)}%${randomBytes(8).toString('hex')}`;
    const name = `projects/${projectId}/messages/${id}`;
    return { status: 200, body: { name }, providerMessageId: name };
  }

  protected failureResponse(failure: PlannedFailure): FakeResponse {
    switch (failure.status) {
      case 429:
        return fcmErrorFor('QUOTA_EXCEEDED', failure.retryAfterSeconds);
      case 500:
        return fcmErrorFor('INTERNAL', undefined);
      case 503:
        return fcmErrorFor('UNAVAILABLE', undefined);
      case 404:
        return fcmErrorFor('UNREGISTERED', undefined);
      case 400:
        return fcmErrorFor('INVALID_ARGUMENT', undefined);
      case 401:
        return googleError(
          401,
          'UNAUTHENTICATED',
          'Request had invalid authentication credentials.',
        );
      case 403:
        return googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
      case 502:
        return frontEndPage(502, 'Bad Gateway');
      case 504:
        return frontEndPage(504, 'Gateway Timeout');
      default:
        return failure.status >= 500
          ? googleError(failure.status, 'UNKNOWN', 'Unknown error.')
          : googleError(failure.status, 'FAILED_PRECONDITION', 'Precondition failed.');
    }
  }

  private async handleTokenRequest(
    incoming: IncomingMessage,
    outgoing: ServerResponse,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const { response, record } = this.exchange(incoming, Buffer.concat(chunks).toString('utf8'));
    this.tokenLog.push({
      receivedAt: new Date().toISOString(),
      status: response.status,
      ...record,
    });
    const payload = Buffer.from(JSON.stringify(response.body));
    outgoing.writeHead(response.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(payload.length),
      'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
    });
    await new Promise<void>((resolve) => outgoing.end(payload, resolve));
  }

  private exchange(
    incoming: IncomingMessage,
    rawBody: string,
  ): { response: FakeResponse; record: Partial<TokenExchangeRecord> } {
    const path = new URL(incoming.url ?? '/', 'https://oauth2.invalid').pathname;
    if (incoming.method !== 'POST' || path !== '/token') {
      return {
        response: oauthError(404, 'not_found', 'Not Found'),
        record: { error: 'not_found' },
      };
    }
    if (this.tokenFailure && this.tokenFailure.remaining > 0) {
      this.tokenFailure.remaining -= 1;
      const { status } = this.tokenFailure;
      return {
        response: oauthError(status, 'internal_failure', 'The token service is unavailable.'),
        record: { error: 'internal_failure' },
      };
    }
    const form = new URLSearchParams(rawBody);
    const grantType = form.get('grant_type');
    if (grantType !== JWT_BEARER_GRANT_TYPE) {
      const error = 'unsupported_grant_type';
      return {
        response: oauthError(400, error, `Invalid grant_type: ${grantType ?? ''}`),
        record: { error },
      };
    }
    const verdict = this.verifyAssertion(form.get('assertion') ?? '');
    if ('error' in verdict) {
      return {
        response: oauthError(400, verdict.error, verdict.description),
        record: { error: verdict.error, clientEmail: verdict.clientEmail },
      };
    }
    const accessToken = `ya29.sandbox-${randomBytes(24).toString('base64url')}`;
    this.grants.set(accessToken, {
      ...verdict,
      expiresAt: Date.now() + this.accessTokenLifetimeSeconds * 1000,
    });
    return {
      response: {
        status: 200,
        body: {
          access_token: accessToken,
          expires_in: this.accessTokenLifetimeSeconds,
          token_type: 'Bearer',
        },
      },
      record: { clientEmail: verdict.clientEmail, scopes: verdict.scopes },
    };
  }

  /** Checks a JWT-bearer assertion the way Google's token endpoint does for service accounts. */
  private verifyAssertion(
    assertion: string,
  ): Omit<AccessGrant, 'expiresAt'> | { error: string; description: string; clientEmail?: string } {
    const invalid = (description: string, clientEmail?: string) => ({
      error: 'invalid_grant',
      description,
      clientEmail,
    });
    const parts = assertion.split('.');
    const [headerPart, claimsPart, signaturePart] = parts;
    if (parts.length !== 3 || !headerPart || !claimsPart || !signaturePart) {
      return invalid('Invalid JWT: malformed assertion.');
    }
    let header: unknown;
    let claims: unknown;
    try {
      header = decodeJsonSegment(headerPart);
      claims = decodeJsonSegment(claimsPart);
    } catch {
      return invalid('Invalid JWT: malformed assertion.');
    }
    if (!isRecord(header) || header.alg !== 'RS256' || !isRecord(claims)) {
      return invalid('Invalid JWT: only RS256 assertions are accepted.');
    }
    const clientEmail = typeof claims.iss === 'string' ? claims.iss : undefined;
    const account = clientEmail === undefined ? undefined : this.accounts.get(clientEmail);
    if (!clientEmail || !account) return invalid('Invalid grant: account not found', clientEmail);
    if (header.kid !== undefined && header.kid !== account.keyId) {
      return invalid('Invalid JWT Signature.', clientEmail);
    }
    const signed = verify(
      'sha256',
      Buffer.from(`${headerPart}.${claimsPart}`),
      account.publicKey,
      Buffer.from(signaturePart, 'base64url'),
    );
    if (!signed) return invalid('Invalid JWT Signature.', clientEmail);
    if (claims.aud !== GOOGLE_TOKEN_URL) {
      return invalid(
        `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_URL}`,
        clientEmail,
      );
    }
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      iat > now + CLOCK_SKEW_SECONDS ||
      exp <= now - CLOCK_SKEW_SECONDS ||
      exp - iat > MAX_ASSERTION_LIFETIME_SECONDS
    ) {
      return invalid(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable ' +
          'timeframe. Check your iat and exp values in the JWT claim.',
        clientEmail,
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    if (scopes.length === 0) {
      return {
        error: 'invalid_scope',
        description: 'Invalid oauth scope or ID token audience provided.',
        clientEmail,
      };
    }
    return { clientEmail, projectId: account.projectId, scopes };
  }
}
