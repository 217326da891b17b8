import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import { ChannelError, type ChannelErrorKind } from '../channel-error';

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
} as const satisfies Readonly<Record<string, ChannelErrorKind>>;

/** axios error codes for requests that got no HTTP answer; all worth retrying. */
export const SENDGRID_NETWORK_ERROR_KINDS = {
  ECONNREFUSED: 'transient',
  ECONNRESET: 'transient', // includes "socket hang up"
  ETIMEDOUT: 'transient',
  ECONNABORTED: 'transient', // axios's request timeout
  EPIPE: 'transient',
  ENOTFOUND: 'transient',
  EAI_AGAIN: 'transient',
  ERR_NETWORK: 'transient',
} as const satisfies Readonly<Record<string, ChannelErrorKind>>;

const SENDGRID_KEY_PREFIX = 'SG.';

type MailContentBlock = { type: string; value: string };

/** The kind for a SendGrid HTTP status: the table first, then 4xx/5xx (never success). */
export function classifySendGridStatus(status: number): ChannelErrorKind {
  const known = (SENDGRID_ERROR_KINDS as Readonly<Record<string, ChannelErrorKind>>)[
    String(status)
  ];
  if (known) return known;
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'transient' : 'permanent';
}

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

/** The part of @sendgrid/client we configure; the mail package's typings leave `client` out. */
interface SendGridRequestDefaults {
  setDefaultRequest(key: string, value: unknown): unknown;
}

function requestDefaultsOf(service: MailService): SendGridRequestDefaults {
  const client: unknown = Reflect.get(service, 'client');
  if (
    typeof (client as Partial<SendGridRequestDefaults> | undefined)?.setDefaultRequest !==
    'function'
  ) {
    throw new Error('@sendgrid/mail no longer exposes MailService.client; check the SDK version');
  }
  return client as SendGridRequestDefaults;
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

/** SendGrid's first error message, e.g. "Does not contain a valid address. (personalizations.0.to.0.email)". */
function firstErrorMessage(body: unknown): string | undefined {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const first = errors[0] as { message?: unknown; field?: unknown };
  if (typeof first.message !== 'string') return undefined;
  return typeof first.field === 'string' ? `${first.message} (${first.field})` : first.message;
}

function configurationError(providerId: string, problem: string): ChannelError {
  return new ChannelError(`${providerId}: ${problem}`, {
    kind: 'configuration',
    provider: providerId,
  });
}

function requireOption(providerId: string, name: string, value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw configurationError(providerId, `missing option "${name}"`);
  }
  return value;
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
    if (!Number.isInteger(options.requestTimeoutMs) || options.requestTimeoutMs <= 0) {
      throw configurationError(providerId, 'option "requestTimeoutMs" must be a positive integer');
    }
    if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
      throw configurationError(providerId, `option "baseUrl" is not a URL: ${options.baseUrl}`);
    }
    this.providerId = providerId;

    // One MailService per adapter: the SDK's default export is a process-wide singleton whose key
    // and base URL another adapter (say "sendgrid-backup") would overwrite.
    this.mail = new MailService();
    this.mail.setApiKey(apiKey);
    this.mail.setTimeout(options.requestTimeoutMs);
    const defaults = requestDefaultsOf(this.mail);
    // setApiKey resets the base URL to SendGrid's, so the override must come after it.
    if (options.baseUrl !== undefined) defaults.setDefaultRequest('baseUrl', options.baseUrl);
    // Pooled, bounded connections; the plain-HTTP agent only matters for the sandbox.
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 20 };
    defaults.setDefaultRequest('httpsAgent', new HttpsAgent(agentOptions));
    defaults.setDefaultRequest('httpAgent', new HttpAgent(agentOptions));
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
    try {
      const [response] = await this.mail.send(mail);
      const headers = response.headers as Readonly<Record<string, unknown>> | undefined;
      const sendGridId = headers?.['x-message-id'];
      return {
        provider: this.providerId,
        // A 2xx means SendGrid took the mail; without its id, events still carry our messageId.
        providerMessageId:
          typeof sendGridId === 'string' && sendGridId !== '' ? sendGridId : message.messageId,
        acceptedAt: new Date(),
      };
    } catch (error) {
      throw this.translate(error);
    }
  }

  private translate(error: unknown): ChannelError {
    const provider = this.providerId;
    if (isSendGridResponseError(error)) {
      const status = error.code;
      const kind = classifySendGridStatus(status);
      const detail = firstErrorMessage(error.response.body) ?? error.message;
      return new ChannelError(`${provider}: SendGrid answered HTTP ${status}: ${detail}`, {
        kind,
        provider,
        vendorCode: String(status),
        retryAfterMs:
          kind === 'rate_limited' ? sendGridRetryAfterMs(error.response.headers) : undefined,
        // The SDK's ResponseError holds only status, headers and body: safe to log.
        cause: error,
      });
    }
    if (error instanceof Error && 'isAxiosError' in error) {
      const rawCode = (error as Error & { code?: unknown }).code;
      const code = typeof rawCode === 'string' ? rawCode : 'ERR_NETWORK';
      const kind: ChannelErrorKind =
        (SENDGRID_NETWORK_ERROR_KINDS as Readonly<Record<string, ChannelErrorKind>>)[code] ??
        'transient';
      return new ChannelError(`${provider}: no answer from SendGrid (${code}): ${error.message}`, {
        kind,
        provider,
        vendorCode: code,
        // Not the axios error itself: its config carries the Authorization header into any log.
        cause: new Error(`${code}: ${error.message}`),
      });
    }
    // Thrown before any request (the SDK's own validation, or a bug): asking again cannot help.
    return new ChannelError(`${provider}: SendGrid request failed: ${String(error)}`, {
      kind: 'permanent',
      provider,
      cause: error,
    });
  }
}
