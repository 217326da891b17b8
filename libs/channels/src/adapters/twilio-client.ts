import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as HttpAgent } from 'node:http';
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';
import type { MessageListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/message';
import type { ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';

/** Vendor code (as a string) → our error kind. */
export type VendorErrorTable = Readonly<Record<string, ChannelErrorKind>>;

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

/**
 * axios error codes for requests that never got an HTTP answer. All are worth retrying: even
 * ENOTFOUND is a DNS outage for api.twilio.com, not a typo we could fix by giving up.
 */
export const TWILIO_NETWORK_ERROR_KINDS = {
  ECONNREFUSED: 'transient',
  ECONNRESET: 'transient', // includes "socket hang up"
  ETIMEDOUT: 'transient',
  ECONNABORTED: 'transient', // axios's request timeout
  EPIPE: 'transient',
  ENOTFOUND: 'transient',
  EAI_AGAIN: 'transient',
  ERR_NETWORK: 'transient',
} as const satisfies VendorErrorTable;

/** The kind for a Twilio error: the code table first, then the HTTP status (never success). */
export function classifyTwilioError(
  table: VendorErrorTable,
  code: number | undefined,
  httpStatus: number,
): ChannelErrorKind {
  const known = code === undefined ? undefined : table[String(code)];
  if (known) return known;
  if (httpStatus === 429) return 'rate_limited';
  return httpStatus >= 500 ? 'transient' : 'permanent';
}

/**
 * Milliseconds a Retry-After header asks for: delta-seconds or an HTTP date. Undefined when absent
 * or unreadable, so the caller's own backoff applies.
 */
export function parseRetryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
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

/** Throws a configuration ChannelError naming the option when a required string is missing. */
export function requireOption(providerId: string, name: string, value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw configurationError(providerId, `missing option "${name}"`);
  }
  return value;
}

export function configurationError(providerId: string, problem: string): ChannelError {
  return new ChannelError(`${providerId}: ${problem}`, {
    kind: 'configuration',
    provider: providerId,
  });
}

function assertValidAccountOptions(options: TwilioAccountOptions): void {
  const providerId = requireOption('twilio', 'providerId', options.providerId);
  const accountSid = requireOption(providerId, 'accountSid', options.accountSid);
  requireOption(providerId, 'authToken', options.authToken);
  // twilio-node throws a bare Error for this; say which provider and option instead.
  if (!accountSid.startsWith('AC')) {
    throw configurationError(providerId, 'option "accountSid" must start with AC');
  }
  if (!Number.isInteger(options.requestTimeoutMs) || options.requestTimeoutMs <= 0) {
    throw configurationError(providerId, 'option "requestTimeoutMs" must be a positive integer');
  }
  if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
    throw configurationError(providerId, `option "baseUrl" is not a URL: ${options.baseUrl}`);
  }
}

/** Holds the headers of the response to the current send, so a 429's Retry-After is not lost. */
interface ResponseSlot {
  headers?: Readonly<Record<string, unknown>>;
}
// twilio-node's RestException drops the response headers; each send runs in its own slot so
// concurrent sends on one client never see each other's headers.
const currentResponse = new AsyncLocalStorage<ResponseSlot>();

/**
 * twilio-node has no base-URL option, but takes a custom `httpClient`. This one moves every
 * *.twilio.com URL to `baseUrl` (keeping path and query) and keeps the response headers for error
 * translation. It never retries: twilio-node's only retry (429 backoff) stays off (`autoRetry:
 * false`), because retry decisions belong to the dispatch service.
 */
export class TwilioHttpClient extends twilio.RequestClient {
  private readonly target: URL | undefined;

  constructor(options: { baseUrl?: string; timeoutMs: number; maxSockets?: number }) {
    super({
      timeout: options.timeoutMs,
      keepAlive: true,
      maxSockets: options.maxSockets,
      autoRetry: false,
    });
    this.target = options.baseUrl === undefined ? undefined : new URL(options.baseUrl);
    if (this.target?.protocol === 'http:') {
      // twilio-node only pools HTTPS connections; the plain-HTTP sandbox deserves the same pooling.
      this.axios.defaults.httpAgent = new HttpAgent({
        keepAlive: true,
        maxSockets: options.maxSockets ?? 20,
        timeout: options.timeoutMs,
      });
    }
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
    const response = await super.request({ ...options, uri: this.redirect(options.uri) });
    const slot = currentResponse.getStore();
    if (slot) slot.headers = response.headers as Record<string, unknown>;
    return response;
  }
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

interface TwilioRestError {
  readonly status: number;
  readonly code?: number;
  readonly message: string;
}

function isTwilioRestError(error: unknown): error is TwilioRestError {
  return (
    error instanceof Error &&
    typeof (error as Partial<TwilioRestError>).status === 'number' &&
    !('isAxiosError' in error)
  );
}

function networkErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('isAxiosError' in error)) return undefined;
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ERR_NETWORK';
}

/**
 * Sends through one account's Messages API and turns every failure into a ChannelError using the
 * adapter's code table. Shared by the SMS and WhatsApp adapters.
 */
export class TwilioMessageSender {
  readonly providerId: string;
  private readonly client: twilio.Twilio;

  constructor(
    options: TwilioAccountOptions,
    private readonly errorKinds: VendorErrorTable,
  ) {
    this.client = buildTwilioClient(options);
    this.providerId = options.providerId;
  }

  /** `messageId` is our id, used as the provider id only if Twilio's answer lacks a sid. */
  async send(
    params: MessageListInstanceCreateOptions,
    messageId: string,
  ): Promise<ProviderAcceptance> {
    const slot: ResponseSlot = {};
    try {
      const message = await currentResponse.run(slot, () => this.client.messages.create(params));
      // A 2xx means Twilio took the message; failing here would send it twice on the next provider.
      const sid = typeof message.sid === 'string' && message.sid !== '' ? message.sid : messageId;
      return { provider: this.providerId, providerMessageId: sid, acceptedAt: new Date() };
    } catch (error) {
      throw this.translate(error, slot);
    }
  }

  private translate(error: unknown, slot: ResponseSlot): ChannelError {
    const provider = this.providerId;
    if (isTwilioRestError(error)) {
      const kind = classifyTwilioError(this.errorKinds, error.code, error.status);
      const vendorCode = String(error.code ?? error.status);
      return new ChannelError(
        `${provider}: Twilio error ${vendorCode} (HTTP ${error.status}): ${error.message}`,
        {
          kind,
          provider,
          vendorCode,
          retryAfterMs:
            kind === 'rate_limited' ? parseRetryAfterMs(slot.headers?.['retry-after']) : undefined,
          cause: error,
        },
      );
    }
    const networkCode = networkErrorCode(error);
    if (networkCode !== undefined) {
      const kind: ChannelErrorKind =
        (TWILIO_NETWORK_ERROR_KINDS as VendorErrorTable)[networkCode] ?? 'transient';
      const reason = error instanceof Error ? error.message : String(error);
      return new ChannelError(`${provider}: no answer from Twilio (${networkCode}): ${reason}`, {
        kind,
        provider,
        vendorCode: networkCode,
        // Not the axios error itself: its config carries the Authorization header into any log.
        cause: new Error(`${networkCode}: ${reason}`),
      });
    }
    // Anything else was thrown before a request went out (a bug or bad parameters): retrying the
    // same call cannot help.
    return new ChannelError(`${provider}: Twilio request failed: ${String(error)}`, {
      kind: 'permanent',
      provider,
      cause: error,
    });
  }
}
