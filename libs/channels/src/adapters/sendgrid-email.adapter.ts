import { STATUS_CODES } from 'node:http';
import { Client } from '@sendgrid/client';
import type { ClientRequest } from '@sendgrid/client/src/request';
import type { ClientResponse } from '@sendgrid/client/src/response';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';
import { HttpTransport, jsonOrText } from './http-transport';
import {
  classifyTransportError,
  configurationError,
  errorName,
  kindForHttpStatus,
  requireOption,
  requireOptionalBaseUrl,
  requireRequestTimeout,
  transportFailure,
  TRANSPORT_ERROR_KINDS,
  withoutMessage,
  type ErrorKindTable,
  type NetworkFailureWording,
} from './shared';

/** SendGrid answers with HTTP statuses only, so the status (as a string) is the vendor code. */
export const SENDGRID_ERROR_KINDS = {
  '400': 'permanent', // the request is malformed or an address is invalid
  '401': 'configuration', // API key missing, wrong or revoked
  '403': 'configuration', // key lacks the mail.send scope, or the sender is not verified
  '413': 'permanent', // message over 30 MB
  '429': 'rate_limited',
  '500': 'transient',
  '502': 'transient',
  '503': 'transient',
  '504': 'transient',
} as const satisfies ErrorKindTable;

/**
 * What each status means, in our words. ChannelError messages are built from these and the error
 * field paths, never from SendGrid's messages, which may name the address.
 */
export const SENDGRID_ERROR_DESCRIPTIONS = {
  '400': 'request refused as invalid',
  '401': 'API key missing, wrong or revoked',
  '403': 'API key lacks the mail.send scope, or the sender is not verified',
  '413': 'message too large',
  '429': 'too many requests',
  '500': 'SendGrid internal error',
  '502': 'SendGrid gateway error',
  '503': 'SendGrid service unavailable',
  '504': 'SendGrid gateway timeout',
} as const satisfies Readonly<Record<keyof typeof SENDGRID_ERROR_KINDS, string>>;

/**
 * Transport error codes for requests that got no HTTP answer (the shared table, see
 * TRANSPORT_ERROR_KINDS): only failures before the request was written are worth another
 * provider. Once the connection carried the request, SendGrid may have taken the mail.
 */
export const SENDGRID_NETWORK_ERROR_KINDS = TRANSPORT_ERROR_KINDS;

/** Our vendor code for a 2xx without the X-Message-Id header. */
export const SENDGRID_MISSING_MESSAGE_ID = 'MISSING_MESSAGE_ID';

const SENDGRID_KEY_PREFIX = 'SG.';
/** Connections kept open per adapter when the caller names no number. */
const DEFAULT_MAX_SOCKETS = 20;

const NETWORK_WORDING: NetworkFailureWording = {
  peer: 'SendGrid',
  mayHaveGone: 'the request may have been sent',
  mayHaveTaken: 'SendGrid may have taken the mail',
};

type MailContentBlock = { type: string; value: string };

/**
 * The kind for a SendGrid HTTP status: the table first, then 4xx/5xx (never success). The table
 * lists 401 and 403 itself, so for SendGrid the shared fallback means 429 rate_limited, 5xx
 * transient, any other status permanent.
 */
export function classifySendGridStatus(status: number): ChannelErrorKind {
  const known = (SENDGRID_ERROR_KINDS as ErrorKindTable)[String(status)];
  if (known) return known;
  return kindForHttpStatus(status);
}

/** The kind for a transport error code (see classifyTransportError). */
export const classifySendGridNetworkError = classifyTransportError;

/**
 * How long a 429 asks us to wait: Retry-After if a proxy added one, otherwise SendGrid's
 * X-RateLimit-Reset (Unix seconds when the window reopens).
 */
export function sendGridRetryAfterMs(
  headers: Readonly<Record<string, unknown>> | undefined,
  now = Date.now(),
): number | undefined {
  const retryAfter = headers?.['retry-after'];
  if (typeof retryAfter === 'string' && /^\s*\d+\s*$/.test(retryAfter))
    return Number(retryAfter) * 1000;
  const reset = headers?.['x-ratelimit-reset'];
  if (typeof reset === 'string' && /^\s*\d+\s*$/.test(reset)) {
    return Math.max(0, Number(reset) * 1000 - now);
  }
  return undefined;
}

export interface SendGridEmailAdapterOptions {
  /** Names this configured provider, e.g. "sendgrid". */
  readonly providerId: string;
  /** A SendGrid API key with the mail.send scope (starts with "SG."). */
  readonly apiKey: string;
  /** A verified sender address. */
  readonly fromEmail: string;
  readonly fromName?: string;
  /** Where to send API calls instead of https://api.sendgrid.com (the sandbox); unset in production. */
  readonly baseUrl?: string;
  /** Whole-request timeout. */
  readonly requestTimeoutMs: number;
  /** Connections kept open to SendGrid per adapter. */
  readonly maxSockets?: number;
}

const SENDGRID_API = 'https://api.sendgrid.com/';

/** What @sendgrid/client rejects with for an HTTP status of 400 or more. */
class SendGridAnswerError extends Error {
  override readonly name = 'ResponseError';

  constructor(
    readonly code: number,
    readonly response: {
      readonly headers: Readonly<Record<string, unknown>>;
      readonly body: unknown;
    },
  ) {
    super(STATUS_CODES[code] ?? `HTTP ${code}`);
  }
}

/**
 * @sendgrid/client with our HttpTransport under it instead of axios: the SDK still builds the mail
 * and its headers (key, User-Agent); the answer comes back in the shape the SDK's own client gives
 * (a ClientResponse, or a ResponseError-like error from HTTP 400 on). Half the CPU of a send.
 */
class SendGridHttpClient extends Client {
  constructor(
    private readonly transport: HttpTransport,
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  override async request(
    data: ClientRequest,
    callback?: unknown,
  ): Promise<[ClientResponse, unknown]> {
    // MailService passes its callback through; the adapter only ever awaits the promise.
    if (callback !== undefined) throw new TypeError('SendGridHttpClient answers promises only');
    const url = new URL(data.url.replace(/^\/+/, ''), this.baseUrl.replace(/\/*$/, '/'));
    for (const [name, value] of Object.entries(data.qs ?? {})) {
      url.searchParams.append(name, String(value));
    }
    const answer = await this.transport.exchange({
      url,
      method: (data.method ?? 'GET').toUpperCase(),
      headers: this.createHeaders({ ...(data.headers as Record<string, string> | undefined) }),
      body: data.body === undefined ? undefined : JSON.stringify(data.body),
      timeoutMs: this.timeoutMs,
    });
    const body = jsonOrText(answer.body);
    if (answer.status >= 400) {
      throw new SendGridAnswerError(answer.status, { headers: answer.headers, body });
    }
    // The SDK types a body as an object; its own client hands over whatever came (a 202 has none).
    const response: ClientResponse = {
      statusCode: answer.status,
      body: body as object,
      headers: answer.headers,
    };
    return [response, body];
  }
}

interface SendGridResponseError extends Error {
  readonly code: number;
  readonly response: {
    readonly headers?: Readonly<Record<string, unknown>>;
    readonly body?: unknown;
  };
}

function isSendGridResponseError(error: unknown): error is SendGridResponseError {
  const candidate = error as Partial<SendGridResponseError> | undefined;
  return (
    error instanceof Error &&
    typeof candidate?.code === 'number' &&
    typeof candidate.response === 'object' &&
    candidate.response !== null
  );
}

// A field path such as "personalizations.0.to.0.email"; anything else (an address) is left out.
const FIELD_PATH = /^[A-Za-z0-9_.[\]-]{1,100}$/;

/** The field paths SendGrid blamed, e.g. ["personalizations.0.to.0.email"]; never its messages. */
function blamedFields(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  const fields = errors
    .map((entry: unknown) => (entry as { field?: unknown } | null)?.field)
    .filter((field): field is string => typeof field === 'string' && FIELD_PATH.test(field));
  return [...new Set(fields)].slice(0, 5);
}

function describeStatus(status: number): string {
  const listed = (SENDGRID_ERROR_DESCRIPTIONS as Readonly<Record<string, string>>)[String(status)];
  if (listed) return listed;
  if (status === 429) return 'too many requests';
  return status >= 500 ? 'SendGrid server error' : 'request refused';
}

/** Email through SendGrid's v3 Mail Send API, with the official SDK. */
export class SendGridEmailAdapter implements ChannelAdapter<'email'> {
  readonly channel = 'email' as const;
  readonly providerId: string;
  private readonly mail: MailService;

  constructor(private readonly options: SendGridEmailAdapterOptions) {
    const providerId = requireOption('sendgrid', 'providerId', options.providerId);
    const apiKey = requireOption(providerId, 'apiKey', options.apiKey);
    requireOption(providerId, 'fromEmail', options.fromEmail);
    // The SDK only warns on stdout for a malformed key; refuse it at start-up instead.
    if (!apiKey.startsWith(SENDGRID_KEY_PREFIX)) {
      throw configurationError(
        providerId,
        `option "apiKey" must start with "${SENDGRID_KEY_PREFIX}"`,
      );
    }
    requireRequestTimeout(providerId, options.requestTimeoutMs);
    requireOptionalBaseUrl(providerId, options.baseUrl);
    this.providerId = providerId;

    // One MailService per adapter: the SDK's default export is a process-wide singleton whose key
    // and base URL another adapter (say "sendgrid-backup") would overwrite.
    this.mail = new MailService();
    // Pooled, bounded connections; mail send never redirects, so none are followed.
    const transport = new HttpTransport({
      maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS,
      idleTimeoutMs: options.requestTimeoutMs,
    });
    this.mail.setClient(
      new SendGridHttpClient(transport, options.baseUrl ?? SENDGRID_API, options.requestTimeoutMs),
    );
    this.mail.setApiKey(apiKey);
  }

  async send(message: OutboundMessage<'email'>): Promise<ProviderAcceptance> {
    const { subject, text, html } = message.content;
    // SendGrid requires text/plain before text/html.
    const blocks: MailContentBlock[] = [];
    if (text !== undefined) blocks.push({ type: 'text/plain', value: text });
    if (html !== undefined) blocks.push({ type: 'text/html', value: html });
    const [firstBlock, ...otherBlocks] = blocks;
    if (firstBlock === undefined) {
      throw new ChannelError(`${this.providerId}: email content has neither text nor html`, {
        kind: 'permanent',
        provider: this.providerId,
      });
    }
    const mail: MailDataRequired = {
      to: message.address,
      from: this.options.fromName
        ? { email: this.options.fromEmail, name: this.options.fromName }
        : this.options.fromEmail,
      subject,
      content: [firstBlock, ...otherBlocks],
      // Echoed in every event webhook, so receipts find the message without a lookup table.
      customArgs: { messageId: message.messageId, category: message.category },
      categories: [message.category],
    };
    let headers: Readonly<Record<string, unknown>> | undefined;
    let status: number;
    try {
      const [response] = await this.mail.send(mail);
      headers = response.headers as Readonly<Record<string, unknown>> | undefined;
      status = response.statusCode;
    } catch (error) {
      throw this.translate(error);
    }
    const sendGridId = headers?.['x-message-id'];
    if (typeof sendGridId !== 'string' || sendGridId === '') {
      // A 2xx without its id: SendGrid probably took the mail, but events could not be matched to
      // it and sending again anywhere could deliver it twice.
      throw new ChannelError(
        `${this.providerId}: SendGrid answered HTTP ${status} without X-Message-Id; SendGrid may have taken the mail`,
        {
          kind: 'outcome_unknown',
          provider: this.providerId,
          vendorCode: SENDGRID_MISSING_MESSAGE_ID,
        },
      );
    }
    return { provider: this.providerId, providerMessageId: sendGridId, acceptedAt: new Date() };
  }

  /** Messages hold statuses, codes, field paths and our own words: never SendGrid's text or the address. */
  private translate(error: unknown): ChannelError {
    const provider = this.providerId;
    if (isSendGridResponseError(error)) {
      const status = error.code;
      const kind = classifySendGridStatus(status);
      const fields = blamedFields(error.response.body);
      const blamed = fields.length > 0 ? ` (fields: ${fields.join(', ')})` : '';
      // No cause: the SDK's ResponseError holds SendGrid's body, whose messages may name the address.
      return new ChannelError(
        `${provider}: SendGrid answered HTTP ${status}: ${describeStatus(status)}${blamed}`,
        {
          kind,
          provider,
          vendorCode: String(status),
          retryAfterMs:
            kind === 'rate_limited' ? sendGridRetryAfterMs(error.response.headers) : undefined,
        },
      );
    }
    const networkFailure = transportFailure(
      provider,
      error,
      classifySendGridNetworkError,
      NETWORK_WORDING,
    );
    if (networkFailure) return networkFailure;
    // Thrown before any request (the SDK's own validation, or a bug): asking again cannot help.
    return new ChannelError(`${provider}: SendGrid request not sent: ${errorName(error)}`, {
      kind: 'permanent',
      provider,
      cause: withoutMessage(error),
    });
  }
}
