import { ChannelError, type ChannelErrorKind } from '../channel-error';
import { TransportError } from './http-transport';

/**
 * Helpers every provider adapter uses: option checks, error-kind tables for failures without an
 * HTTP answer, Retry-After, scrubbed causes and timeouts. Provider-specific wording stays in the
 * adapters; only the mechanics live here.
 */

/** Vendor code (as a string) → our error kind. */
export type ErrorKindTable = Readonly<Record<string, ChannelErrorKind>>;

/**
 * Node error codes for a request that got no HTTP answer. Only failures before the request was
 * written are worth another provider (ENOTFOUND is a DNS outage for the provider's host, not a typo
 * we could fix by giving up). Once the connection carried the request, the provider may have taken
 * the message: sending it anywhere else could deliver it twice. Each adapter's table starts from
 * this one and adds the codes of its HTTP client.
 */
export const NETWORK_ERROR_KINDS = {
  // Nothing was sent: no connection was made.
  ECONNREFUSED: 'transient',
  ENOTFOUND: 'transient',
  EAI_AGAIN: 'transient',
  EHOSTUNREACH: 'transient',
  ENETUNREACH: 'transient',
  // The request may have reached the provider.
  ECONNRESET: 'outcome_unknown', // includes "socket hang up"
  ETIMEDOUT: 'outcome_unknown',
  EPIPE: 'outcome_unknown',
} as const satisfies ErrorKindTable;

/** NETWORK_ERROR_KINDS plus the codes of our HTTP transport (under the Twilio and SendGrid SDKs). */
export const TRANSPORT_ERROR_KINDS = {
  ...NETWORK_ERROR_KINDS,
  ERR_NETWORK: 'outcome_unknown', // a socket error without a code: no telling how far it got
  ERR_ANSWER_TOO_LARGE: 'outcome_unknown', // the request went out; the answer was cut off
} as const satisfies ErrorKindTable;

/** TLS verification failures: the handshake failed, so no request was written. */
export const TLS_ERROR_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The kind for a failure without an HTTP answer: the table, then TLS handshake failures (as
 * `tlsKind`: adapters differ on whether another provider could help), then outcome_unknown, because
 * an unknown failure may have come after the request went out.
 */
export function classifyNetworkCode(
  table: ErrorKindTable,
  code: string,
  tlsKind: ChannelErrorKind,
): ChannelErrorKind {
  const listed = table[code];
  if (listed) return listed;
  return TLS_ERROR_CODES.has(code) ? tlsKind : 'outcome_unknown';
}

/** How an adapter names its peer and what may have reached it, for network failure messages. */
export interface NetworkFailureWording {
  /** e.g. "Twilio", "the push service". */
  readonly peer: string;
  /** What may have gone out, e.g. "the request may have been sent". */
  readonly mayHaveGone: string;
  /** What may have happened to it, e.g. "Twilio may have taken the message". */
  readonly mayHaveTaken: string;
  /** Whether our own TIMEOUT code is possible (it gets a sentence of its own). */
  readonly ownTimeout?: boolean;
}

/** Our words for a failure without an HTTP answer; never the socket's words, never the address. */
export function describeNetworkFailure(
  code: string,
  kind: ChannelErrorKind,
  wording: NetworkFailureWording,
): string {
  const { peer, mayHaveGone, mayHaveTaken } = wording;
  if (TLS_ERROR_CODES.has(code))
    return `TLS handshake with ${peer} failed (${code}); nothing was sent`;
  if (wording.ownTimeout === true && code === 'TIMEOUT') {
    return `no answer from ${peer} in time; ${mayHaveTaken}`;
  }
  return kind === 'outcome_unknown'
    ? `connection to ${peer} lost (${code}) after ${mayHaveGone}; ${mayHaveTaken}`
    : `could not connect to ${peer} (${code}); nothing was sent`;
}

/**
 * The kind an HTTP status implies when no table row says otherwise: 429 rate_limited, 401/403
 * configuration (a suspended account or missing permission; another account may work), 5xx
 * transient, anything else (no status included) permanent.
 */
export function kindForHttpStatus(status: number | undefined): ChannelErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'configuration';
  return status !== undefined && status >= 500 ? 'transient' : 'permanent';
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function configurationError(providerId: string, problem: string): ChannelError {
  return new ChannelError(`${providerId}: ${problem}`, {
    kind: 'configuration',
    provider: providerId,
  });
}

/** Throws a configuration ChannelError naming the option when a required string is missing. */
export function requireOption(providerId: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw configurationError(providerId, `missing option "${name}"`);
  }
  return value;
}

/** Throws a configuration ChannelError unless requestTimeoutMs is a positive integer. */
export function requireRequestTimeout(providerId: string, requestTimeoutMs: number): void {
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs <= 0) {
    throw configurationError(providerId, 'option "requestTimeoutMs" must be a positive integer');
  }
}

/** Throws a configuration ChannelError when baseUrl is set but not a URL. */
export function requireOptionalBaseUrl(providerId: string, baseUrl: string | undefined): void {
  if (baseUrl !== undefined && !URL.canParse(baseUrl)) {
    throw configurationError(providerId, `option "baseUrl" is not a URL: ${baseUrl}`);
  }
}

/** The error's class name, or the value's type for a non-Error. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * The error's type and stack frames without its message: messages of errors we did not write may
 * quote the request or the answer (a JSON SyntaxError quotes the body), and so the recipient.
 */
export function withoutMessage(error: unknown): Error {
  const scrubbed = new Error(`${errorName(error)} (message withheld)`);
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').slice(1) : [];
  scrubbed.stack = [`Error: ${scrubbed.message}`, ...frames.filter((l) => /^\s+at /.test(l))].join(
    '\n',
  );
  return scrubbed;
}

/**
 * The ChannelError for a TransportError (a request that got no HTTP answer); undefined for any
 * other error. `classify` turns the transport's code into a kind.
 */
export function transportFailure(
  provider: string,
  error: unknown,
  classify: (code: string) => ChannelErrorKind,
  wording: NetworkFailureWording,
): ChannelError | undefined {
  if (!(error instanceof TransportError)) return undefined;
  const { code } = error;
  const kind = classify(code);
  return new ChannelError(`${provider}: ${describeNetworkFailure(code, kind, wording)}`, {
    kind,
    provider,
    vendorCode: code,
    // The socket's own words ("socket hang up", "connect ECONNREFUSED 10.0.0.1:443"); the
    // request itself (Authorization header, body) never reaches an error.
    cause: new Error(`${code}: ${error.message}`),
  });
}

/** What a translated failure carries besides its kind, vendor code and text. */
export interface FailureDetails {
  readonly retryAfterMs?: number;
  readonly cause?: Error;
}

/** Builds one provider's ChannelErrors: "<provider>: <text>", our words only. */
export type FailureBuilder = (
  kind: ChannelErrorKind,
  vendorCode: string,
  text: string,
  details?: FailureDetails,
) => ChannelError;

/** A FailureBuilder for `provider`; `defaultCause` makes the cause when the caller gives none. */
export function failureBuilder(
  provider: string,
  defaultCause: (vendorCode: string, text: string) => Error,
): FailureBuilder {
  return (kind, vendorCode, text, details = {}) =>
    new ChannelError(`${provider}: ${text}`, {
      kind,
      provider,
      vendorCode,
      retryAfterMs: details.retryAfterMs,
      cause: details.cause ?? defaultCause(vendorCode, text),
    });
}

/**
 * The kind for a transport error code (the Twilio and SendGrid SDKs): the table, then TLS
 * handshake failures (transient: nothing was sent), then outcome_unknown, because an unknown
 * failure may have come after the request went out.
 */
export function classifyTransportError(code: string): ChannelErrorKind {
  return classifyNetworkCode(TRANSPORT_ERROR_KINDS, code, 'transient');
}

/** `work`, or the error `onTimeout` makes when it takes longer than `timeoutMs`. */
export function withTimeout<T>(
  work: Promise<T>,
  timeoutMs: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
