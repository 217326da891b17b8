import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';
import type { MessageListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/message';
import type { ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';
import { HttpTransport, jsonOrText } from './http-transport';
import {
  classifyTransportError,
  configurationError,
  errorName,
  kindForHttpStatus,
  parseRetryAfterMs,
  requireOption,
  requireOptionalBaseUrl,
  requireRequestTimeout,
  transportFailure,
  TRANSPORT_ERROR_KINDS,
  withoutMessage,
  type ErrorKindTable,
  type NetworkFailureWording,
} from './shared';

export { configurationError, parseRetryAfterMs, requireOption };

/** Vendor code (as a string) → our error kind. */
export type VendorErrorTable = ErrorKindTable;

/**
 * Vendor code → what it means, in our words. ChannelError messages are built from these, never from
 * Twilio's own text, which may quote the recipient ("The 'To' number +1… is not a valid phone number").
 */
export type VendorErrorDescriptions<Table extends VendorErrorTable = VendorErrorTable> = Readonly<
  Record<keyof Table & string, string>
>;

/** A channel's codes: their kinds and their descriptions (one description per kind row). */
export interface TwilioErrorCatalog {
  readonly kinds: VendorErrorTable;
  readonly descriptions: Readonly<Record<string, string>>;
}

/** Codes every Twilio Messages request can meet, SMS or WhatsApp. */
export const TWILIO_MESSAGING_ERROR_KINDS = {
  '20003': 'configuration', // Authenticate: wrong AccountSid or auth token
  '20404': 'configuration', // resource not found: the AccountSid in the URL does not exist
  '20429': 'rate_limited',
  '20500': 'transient',
  '20503': 'transient',
  '21211': 'invalid_recipient', // invalid 'To' number
  '21602': 'permanent', // body required
  '21603': 'configuration', // 'From' required: neither from nor messagingServiceSid reached Twilio
  '21604': 'permanent', // 'To' required
  '21606': 'configuration', // 'From' is not a message-capable number of this account
  '21610': 'recipient_opted_out', // the recipient replied STOP
} as const satisfies VendorErrorTable;

export const TWILIO_MESSAGING_ERROR_DESCRIPTIONS = {
  '20003': 'authentication failed (wrong AccountSid or auth token)',
  '20404': 'resource not found (unknown AccountSid)',
  '20429': 'too many requests',
  '20500': 'Twilio internal error',
  '20503': 'Twilio service unavailable',
  '21211': "invalid 'To' phone number",
  '21602': 'message body required',
  '21603': "'From' or MessagingServiceSid required",
  '21604': "'To' required",
  '21606': "'From' is not a message-capable number of this account",
  '21610': 'recipient has unsubscribed (replied STOP)',
} as const satisfies VendorErrorDescriptions<typeof TWILIO_MESSAGING_ERROR_KINDS>;

/**
 * Transport error codes for requests that got no HTTP answer (the shared table, see
 * TRANSPORT_ERROR_KINDS): only failures before the request was written are worth another
 * provider. Once the connection carried the request, Twilio may have taken the message.
 */
export const TWILIO_NETWORK_ERROR_KINDS = TRANSPORT_ERROR_KINDS;

const NETWORK_WORDING: NetworkFailureWording = {
  peer: 'Twilio',
  mayHaveGone: 'the request may have been sent',
  mayHaveTaken: 'Twilio may have taken the message',
};

/**
 * The kind for a Twilio error: a 2xx first (an error after Twilio took the request means we do not
 * know what became of the message), then the code table, then the HTTP status: 429 rate_limited,
 * 401/403 configuration (a suspended account or missing permission; another account may work),
 * 5xx transient, any other 4xx permanent.
 */
export function classifyTwilioError(
  table: VendorErrorTable,
  code: number | undefined,
  httpStatus: number,
): ChannelErrorKind {
  if (httpStatus >= 200 && httpStatus < 300) return 'outcome_unknown';
  const known = code === undefined ? undefined : table[String(code)];
  if (known) return known;
  return kindForHttpStatus(httpStatus);
}

/** The kind for a transport error code (see classifyTransportError). */
export const classifyTwilioNetworkError = classifyTransportError;

/**
 * The StatusCallback URL the adapters give Twilio for one message: per message, so the callback
 * names our message id (Twilio signs the whole URL, query included).
 */
export function twilioStatusCallbackUrl(
  publicBaseUrl: string,
  providerId: string,
  messageId: string,
): string {
  const base = publicBaseUrl.replace(/\/+$/, '');
  return `${base}/webhooks/twilio/${encodeURIComponent(providerId)}/status?messageId=${encodeURIComponent(messageId)}`;
}

/** Options shared by every adapter that talks to one Twilio account. */
export interface TwilioAccountOptions {
  /** Names this configured provider, e.g. "twilio" or "twilio-backup". */
  readonly providerId: string;
  readonly accountSid: string;
  readonly authToken: string;
  /** Where to send API calls instead of https://api.twilio.com (the sandbox); unset in production. */
  readonly baseUrl?: string;
  /** Whole-request timeout; also the idle-socket timeout of the connection pool. */
  readonly requestTimeoutMs: number;
  /** Connections kept open to Twilio per adapter (twilio-node's default is 20). */
  readonly maxSockets?: number;
}

function assertValidAccountOptions(options: TwilioAccountOptions): void {
  const providerId = requireOption('twilio', 'providerId', options.providerId);
  const accountSid = requireOption(providerId, 'accountSid', options.accountSid);
  requireOption(providerId, 'authToken', options.authToken);
  // twilio-node throws a bare Error for this; say which provider and option instead.
  if (!accountSid.startsWith('AC')) {
    throw configurationError(providerId, 'option "accountSid" must start with AC');
  }
  requireRequestTimeout(providerId, options.requestTimeoutMs);
  requireOptionalBaseUrl(providerId, options.baseUrl);
}

/**
 * The response to the current send as it came off the wire: its status says whether an error was
 * raised after Twilio took the request, its headers keep a 429's Retry-After.
 */
export interface TwilioResponseSlot {
  status?: number;
  headers?: Readonly<Record<string, unknown>>;
}
// twilio-node's RestException drops the response headers; each send runs in its own slot so
// concurrent sends on one client never see each other's headers.
const currentResponse = new AsyncLocalStorage<TwilioResponseSlot>();

/** Connections kept open per account when the caller names no number (twilio-node's default). */
const DEFAULT_MAX_SOCKETS = 20;

/**
 * twilio-node has no base-URL option, but takes a custom `httpClient`. This one moves every
 * *.twilio.com URL to `baseUrl` (keeping path and query), keeps the response headers for error
 * translation, and carries the request over our HttpTransport instead of axios (the same request
 * and answer, at half the CPU). It never retries: twilio-node's only retry (429 backoff) stays off
 * (`autoRetry: false`), because retry decisions belong to the dispatch service. The request shape
 * is twilio-node's RequestClient's: form or JSON body, Basic auth, query parameters repeated for
 * arrays; an answer that is not JSON reaches twilio-node as text, as axios handed it over.
 */
export class TwilioHttpClient extends twilio.RequestClient {
  private readonly target: URL | undefined;
  private readonly transport: HttpTransport;
  private readonly timeoutMs: number;

  constructor(options: { baseUrl?: string; timeoutMs: number; maxSockets?: number }) {
    // The base class's axios instance and agent stay unused; extending it keeps the type the SDK asks for.
    super({ timeout: options.timeoutMs, keepAlive: true, autoRetry: false });
    this.target = options.baseUrl === undefined ? undefined : new URL(options.baseUrl);
    this.timeoutMs = options.timeoutMs;
    this.transport = new HttpTransport({
      maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS,
      idleTimeoutMs: options.timeoutMs,
    });
  }

  /** The URL a request for `uri` really goes to. */
  redirect(uri: string): string {
    const original = new URL(uri);
    const isTwilioHost =
      original.hostname === 'twilio.com' || original.hostname.endsWith('.twilio.com');
    if (!this.target || !isTwilioHost) return uri;
    const prefix = this.target.pathname.replace(/\/+$/, '');
    return `${this.target.origin}${prefix}${original.pathname}${original.search}`;
  }

  override async request<TData>(
    options: TwilioRequestClient.RequestOptions<TData>,
  ): Promise<TwilioResponse<TData>> {
    const url = new URL(this.redirect(options.uri));
    if (options.params) {
      for (const [name, value] of formPairs(options.params)) url.searchParams.append(name, value);
    }
    const headers: Record<string, string> = { ...(options.headers as Record<string, string>) };
    headers.Connection ??= 'keep-alive';
    if (options.username && options.password) {
      const credentials = Buffer.from(`${options.username}:${options.password}`).toString('base64');
      headers.Authorization = `Basic ${credentials}`;
    } else if (options.authStrategy) {
      headers.Authorization = await options.authStrategy.getAuthString();
    }
    const answer = await this.transport.exchange({
      url,
      method: options.method.toUpperCase(),
      headers,
      body: requestBody(headers['Content-Type'], options.data),
      timeoutMs: options.timeout ?? this.timeoutMs,
    });
    const slot = currentResponse.getStore();
    if (slot) {
      slot.status = answer.status;
      slot.headers = answer.headers;
    }
    // twilio-node checks the shape of what it asked for; TData is its expectation, not a guarantee.
    const body = jsonOrText(answer.body) as TData;
    return { statusCode: answer.status, body, headers: answer.headers };
  }
}

/** name=value pairs as twilio-node sends them: an array repeats its name, undefined is left out. */
function formPairs(fields: object): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) pairs.push([name, String(item)]);
  }
  return pairs;
}

function requestBody(contentType: string | undefined, data: unknown): string | undefined {
  if (data === undefined || data === null) return undefined;
  if (contentType === 'application/json') return JSON.stringify(data);
  if (contentType === 'application/x-www-form-urlencoded' && typeof data === 'object') {
    return new URLSearchParams(formPairs(data)).toString();
  }
  return undefined;
}

/** A twilio-node client for one account, as production builds it (plus the sandbox redirect). */
export function buildTwilioClient(options: TwilioAccountOptions): twilio.Twilio {
  assertValidAccountOptions(options);
  return twilio(options.accountSid, options.authToken, {
    httpClient: new TwilioHttpClient({
      baseUrl: options.baseUrl,
      timeoutMs: options.requestTimeoutMs,
      maxSockets: options.maxSockets,
    }),
    autoRetry: false,
  });
}

/** Our vendor code for a 2xx whose body we could not read (no JSON, or no message sid). */
export const UNREADABLE_RESPONSE = 'UNREADABLE_RESPONSE';

interface TwilioRestError {
  readonly status: number;
  readonly code?: number;
}

/** twilio-node's RestException and TwilioServiceException (HTTP status, Twilio code). */
function isTwilioRestError(error: unknown): error is TwilioRestError {
  return error instanceof Error && typeof (error as Partial<TwilioRestError>).status === 'number';
}

function describeStatus(httpStatus: number): string {
  if (httpStatus === 429) return 'too many requests';
  if (httpStatus === 401 || httpStatus === 403) return 'account credentials or permissions refused';
  return httpStatus >= 500 ? 'Twilio server error' : 'request refused';
}

/**
 * Turns whatever a Messages request threw into a ChannelError. `response` is what came back, if
 * anything did. Messages hold codes, statuses and our own words only: never Twilio's text, never
 * the recipient.
 */
export function translateTwilioFailure(
  provider: string,
  catalog: TwilioErrorCatalog,
  error: unknown,
  response: TwilioResponseSlot = {},
): ChannelError {
  if (error instanceof ChannelError) return error;
  if (isTwilioRestError(error)) {
    // TwilioServiceException reports a missing code as 0.
    const code = error.code !== undefined && error.code > 0 ? error.code : undefined;
    const kind = classifyTwilioError(catalog.kinds, code, error.status);
    const vendorCode = String(code ?? error.status);
    const description =
      (code === undefined ? undefined : catalog.descriptions[vendorCode]) ??
      describeStatus(error.status);
    const prefix =
      code === undefined
        ? `Twilio answered HTTP ${error.status}`
        : `Twilio error ${vendorCode} (HTTP ${error.status})`;
    // No cause: the exception holds Twilio's message and details, which may quote the recipient.
    return new ChannelError(`${provider}: ${prefix}: ${description}`, {
      kind,
      provider,
      vendorCode,
      retryAfterMs:
        kind === 'rate_limited' ? parseRetryAfterMs(response.headers?.['retry-after']) : undefined,
    });
  }
  const networkFailure = transportFailure(
    provider,
    error,
    classifyTwilioNetworkError,
    NETWORK_WORDING,
  );
  if (networkFailure) return networkFailure;
  if (response.status !== undefined) {
    // Raised after an answer arrived: after a 2xx (an unparseable body) Twilio took the request
    // and only the outcome is unknown; after anything else, the status decides as usual.
    const kind = classifyTwilioError(catalog.kinds, undefined, response.status);
    const what =
      kind === 'outcome_unknown'
        ? 'could not read the answer; Twilio may have taken the message'
        : describeStatus(response.status);
    return new ChannelError(`${provider}: Twilio answered HTTP ${response.status}: ${what}`, {
      kind,
      provider,
      vendorCode: kind === 'outcome_unknown' ? UNREADABLE_RESPONSE : String(response.status),
      cause: withoutMessage(error),
    });
  }
  // Thrown before a request went out (a bug or bad parameters): retrying the same call cannot help.
  return new ChannelError(`${provider}: Twilio request not sent: ${errorName(error)}`, {
    kind: 'permanent',
    provider,
    cause: withoutMessage(error),
  });
}

/**
 * Sends through one account's Messages API and turns every failure into a ChannelError using the
 * channel's code catalog. Shared by the SMS and WhatsApp adapters.
 */
export class TwilioMessageSender {
  readonly providerId: string;
  private readonly client: twilio.Twilio;

  constructor(
    options: TwilioAccountOptions,
    private readonly catalog: TwilioErrorCatalog,
  ) {
    this.client = buildTwilioClient(options);
    this.providerId = options.providerId;
  }

  async send(params: MessageListInstanceCreateOptions): Promise<ProviderAcceptance> {
    const provider = this.providerId;
    const slot: TwilioResponseSlot = {};
    let sid: unknown;
    try {
      const message = await currentResponse.run(slot, () => this.client.messages.create(params));
      sid = message.sid;
    } catch (error) {
      throw translateTwilioFailure(provider, this.catalog, error, slot);
    }
    if (typeof sid !== 'string' || sid === '') {
      // Twilio took the request but we cannot tell which message it made: status callbacks could
      // not be matched, and sending again anywhere could deliver it twice.
      throw new ChannelError(
        `${provider}: Twilio answered HTTP ${slot.status ?? '2xx'} without a message sid; Twilio may have taken the message`,
        { kind: 'outcome_unknown', provider, vendorCode: UNREADABLE_RESPONSE },
      );
    }
    return { provider, providerMessageId: sid, acceptedAt: new Date() };
  }
}
