import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  FakeProviderServer,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type FakeServerOptions,
  type ParsedRequest,
  type PlannedFailure,
} from '../core';

export interface FakeSendGridOptions extends FakeServerOptions {
  /** API keys allowed to send mail. Any other key gets 401. */
  readonly apiKeys: readonly string[];
  /** Valid keys without the mail.send scope: they get 403. */
  readonly keysWithoutSendScope?: readonly string[];
  /** Request bodies above this many bytes get 413; SendGrid's limit is 30 MB. */
  readonly maxBodyBytes?: number;
  /** The X-RateLimit-Limit a 429 reports. */
  readonly rateLimitPerWindow?: number;
}

/** One entry of SendGrid's error body. */
export interface SendGridErrorItem {
  readonly message: string;
  readonly field: string | null;
  readonly help: string | null;
}

const DEFAULT_MAX_BODY_BYTES = 30 * 1024 * 1024;
const MAX_RECIPIENTS = 1000;
const MAX_CATEGORIES = 10;
const MAX_CUSTOM_ARGS_BYTES = 10_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

const STATUS_MESSAGES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'The provided authorization grant is invalid, expired, or revoked',
  403: 'access forbidden',
  404: 'resource not found',
  413: 'The size of the request body exceeds the maximum allowed',
  429: 'too many requests',
  500: 'internal server error',
  503: 'service unavailable',
};

function item(message: string, field: string | null = null, anchor?: string): SendGridErrorItem {
  return { message, field, help: anchor ? `${HELP}#${anchor}` : null };
}

function errorResponse(
  status: number,
  errors: readonly SendGridErrorItem[],
  headers?: Record<string, string>,
): FakeResponse {
  return { status, headers, body: { errors } };
}

function statusError(status: number, headers?: Record<string, string>): FakeResponse {
  return errorResponse(status, [item(STATUS_MESSAGES[status] ?? `HTTP ${status}`)], headers);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Every address in to, cc and bcc of every personalization, as sent. */
export function sendGridRecipients(body: unknown): string[] {
  if (!isRecord(body) || !Array.isArray(body.personalizations)) return [];
  const emails: string[] = [];
  for (const personalization of body.personalizations as unknown[]) {
    if (!isRecord(personalization)) continue;
    for (const list of [personalization.to, personalization.cc, personalization.bcc]) {
      if (!Array.isArray(list)) continue;
      for (const address of list as unknown[]) {
        if (isRecord(address) && typeof address.email === 'string') emails.push(address.email);
      }
    }
  }
  return emails;
}

/** SendGrid's checks on the v3 fields the gateway uses; every problem is reported, as SendGrid does. */
function validateMail(mail: Record<string, unknown>): SendGridErrorItem[] {
  const problems: SendGridErrorItem[] = [];
  const hasTemplate = typeof mail.template_id === 'string';
  const personalizations = mail.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    problems.push(
      item(
        'The personalizations field is required and must have at least one personalization.',
        'personalizations',
        'message.personalizations',
      ),
    );
  } else {
    personalizations.forEach((personalization: unknown, p) => {
      const to = isRecord(personalization) ? personalization.to : undefined;
      if (!Array.isArray(to) || to.length === 0) {
        problems.push(
          item(
            'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
            `personalizations.${p}.to`,
            'message.personalizations.to',
          ),
        );
        return;
      }
      to.forEach((address: unknown, t) => {
        const email = isRecord(address) ? address.email : undefined;
        if (typeof email !== 'string' || !EMAIL.test(email)) {
          problems.push(
            item(
              'Does not contain a valid address.',
              `personalizations.${p}.to.${t}.email`,
              'message.personalizations.to',
            ),
          );
        }
      });
    });
    if (sendGridRecipients(mail).length > MAX_RECIPIENTS) {
      problems.push(
        item(
          `The total number of recipients must be no more than ${MAX_RECIPIENTS}.`,
          'personalizations',
          'message.recipient-limit',
        ),
      );
    }
  }

  if (!isRecord(mail.from)) {
    problems.push(
      item(
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.',
        'from',
        'message.from',
      ),
    );
  } else if (typeof mail.from.email !== 'string' || !EMAIL.test(mail.from.email)) {
    problems.push(
      item('The from email does not contain a valid address.', 'from.email', 'message.from'),
    );
  }

  const everyPersonalizationHasSubject =
    Array.isArray(personalizations) &&
    personalizations.every((p: unknown) => isRecord(p) && typeof p.subject === 'string');
  const hasSubject = typeof mail.subject === 'string' && mail.subject.length > 0;
  if (!hasSubject && !everyPersonalizationHasSubject && !hasTemplate) {
    problems.push(
      item(
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
        'subject',
        'message.subject',
      ),
    );
  }

  problems.push(...validateContent(mail.content, hasTemplate));
  problems.push(...validateCustomArgs(mail.custom_args));
  problems.push(...validateCategories(mail.categories));
  return problems;
}

function validateContent(content: unknown, hasTemplate: boolean): SendGridErrorItem[] {
  if (content === undefined && hasTemplate) return [];
  if (!Array.isArray(content) || content.length === 0) {
    return [
      item(
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
        'content',
        'message.content',
      ),
    ];
  }
  const problems: SendGridErrorItem[] = [];
  const types: string[] = [];
  content.forEach((block: unknown, index) => {
    const type = isRecord(block) ? block.type : undefined;
    const value = isRecord(block) ? block.value : undefined;
    if (typeof type !== 'string' || type.length === 0 || /[;\r\n]/.test(type)) {
      problems.push(
        item(
          "The content type cannot contain ';', or CRLF characters, and must be at least one character in length.",
          `content.${index}.type`,
          'message.content.type',
        ),
      );
    } else {
      types.push(type);
    }
    if (typeof value !== 'string' || value.length === 0) {
      problems.push(
        item(
          'The content value must be a string at least one character in length.',
          `content.${index}.value`,
          'message.content.value',
        ),
      );
    }
  });
  const plain = types.indexOf('text/plain');
  const html = types.indexOf('text/html');
  if (plain > 0 || (html >= 0 && html !== (plain === 0 ? 1 : 0))) {
    problems.push(
      item(
        'If present, text/plain and text/html may only be provided in order, and must be first in the content array.',
        'content',
        'message.content',
      ),
    );
  }
  return problems;
}

function validateCustomArgs(customArgs: unknown): SendGridErrorItem[] {
  if (customArgs === undefined) return [];
  if (!isRecord(customArgs)) {
    return [item('Invalid type. Expected: object.', 'custom_args', 'message.custom_args')];
  }
  const problems: SendGridErrorItem[] = [];
  for (const [key, value] of Object.entries(customArgs)) {
    if (typeof value !== 'string') {
      problems.push(
        item(
          `Invalid type. Expected: string, given: ${typeof value}.`,
          `custom_args.${key}`,
          'message.custom_args',
        ),
      );
    }
  }
  if (Buffer.byteLength(JSON.stringify(customArgs)) > MAX_CUSTOM_ARGS_BYTES) {
    problems.push(
      item(
        `The custom_args may not exceed ${MAX_CUSTOM_ARGS_BYTES} bytes.`,
        'custom_args',
        'message.custom_args',
      ),
    );
  }
  return problems;
}

function validateCategories(categories: unknown): SendGridErrorItem[] {
  if (categories === undefined) return [];
  if (!Array.isArray(categories) || !categories.every((c) => typeof c === 'string')) {
    return [
      item('The categories must be an array of strings.', 'categories', 'message.categories'),
    ];
  }
  const problems: SendGridErrorItem[] = [];
  if (categories.length > MAX_CATEGORIES) {
    problems.push(
      item(
        `Too many categories: at most ${MAX_CATEGORIES} are allowed.`,
        'categories',
        'message.categories',
      ),
    );
  }
  if (categories.some((c: string) => c.length > 255)) {
    problems.push(
      item('A category cannot be longer than 255 characters.', 'categories', 'message.categories'),
    );
  }
  return problems;
}

/**
 * SendGrid's v3 Mail Send API: `POST /v3/mail/send` with a Bearer API key and a JSON body. Answers
 * 202 with an empty body and `X-Message-Id`, or SendGrid's `{errors: [{message, field, help}]}`.
 * recipientErrors map an address (any to/cc/bcc) to the HTTP status to answer with, e.g. "400".
 */
export class FakeSendGrid extends FakeProviderServer {
  readonly name = 'sendgrid' as const;
  private readonly apiKeys: readonly string[];
  private readonly keysWithoutSendScope: readonly string[];
  private readonly maxBodyBytes: number;
  private readonly rateLimitPerWindow: number;

  constructor(options: FakeSendGridOptions) {
    super(options);
    this.apiKeys = options.apiKeys;
    this.keysWithoutSendScope = options.keysWithoutSendScope ?? [];
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.rateLimitPerWindow = options.rateLimitPerWindow ?? 600;
  }

  /** JSON bodies of every mail the fake accepted, oldest first. */
  get acceptedMails(): readonly Record<string, unknown>[] {
    return this.requests
      .filter((r) => r.status === 202)
      .map((r) => r.body as Record<string, unknown>);
  }

  protected parse(request: FakeRequest): ParsedRequest {
    const body: unknown = JSON.parse(request.rawBody.toString('utf8'));
    return { body, recipient: sendGridRecipients(body)[0] };
  }

  protected respond(request: FakeRequest, parsed: ParsedRequest, plan: FailurePlan): FakeResponse {
    if (request.path !== '/v3/mail/send') return statusError(404);
    if (request.method !== 'POST') return statusError(405);
    // SendGrid's edge refuses oversized bodies before it looks at anything else.
    if (request.rawBody.length > this.maxBodyBytes) return statusError(413);

    const authorization = request.headers.authorization;
    if (!authorization) return errorResponse(401, [item('authorization required')]);
    const key = /^Bearer (.+)$/.exec(authorization)?.[1] ?? '';
    if (this.keysWithoutSendScope.some((k) => sameSecret(key, k))) return statusError(403);
    if (!this.apiKeys.some((k) => sameSecret(key, k))) return statusError(401);

    if (
      !isRecord(parsed.body) ||
      !(request.headers['content-type'] ?? '').includes('application/json')
    ) {
      return errorResponse(400, [item('Bad Request', null, 'message.body')]);
    }
    const problems = validateMail(parsed.body);
    if (problems.length > 0) return errorResponse(400, problems);

    const planned = this.plannedRecipientStatus(parsed.body, plan);
    if (planned !== undefined) return this.recipientError(planned.field, planned.status, plan);

    const messageId = randomBytes(16).toString('base64url');
    return { status: 202, headers: { 'x-message-id': messageId }, providerMessageId: messageId };
  }

  protected failureResponse(failure: PlannedFailure): FakeResponse {
    if (failure.status === 429)
      return statusError(429, this.rateLimitHeaders(failure.retryAfterSeconds));
    return statusError(failure.status);
  }

  /** The first address with a planned status, and where it sits in the body (for the error field). */
  private plannedRecipientStatus(
    mail: Record<string, unknown>,
    plan: FailurePlan,
  ): { field: string; status: number } | undefined {
    const planned = new Map(
      Object.entries(plan.recipientErrors ?? {}).map(([email, status]) => [
        email.toLowerCase(),
        Number(status),
      ]),
    );
    if (planned.size === 0 || !Array.isArray(mail.personalizations)) return undefined;
    for (const [p, personalization] of (mail.personalizations as unknown[]).entries()) {
      if (!isRecord(personalization)) continue;
      for (const list of ['to', 'cc', 'bcc'] as const) {
        const addresses = personalization[list];
        if (!Array.isArray(addresses)) continue;
        for (const [i, address] of (addresses as unknown[]).entries()) {
          const email = isRecord(address) && typeof address.email === 'string' ? address.email : '';
          const status = planned.get(email.toLowerCase());
          if (status !== undefined && Number.isInteger(status)) {
            return { field: `personalizations.${p}.${list}.${i}.email`, status };
          }
        }
      }
    }
    return undefined;
  }

  private recipientError(field: string, status: number, plan: FailurePlan): FakeResponse {
    if (status === 400) {
      return errorResponse(400, [
        item('Does not contain a valid address.', field, 'message.personalizations.to'),
      ]);
    }
    if (status === 429) return statusError(429, this.rateLimitHeaders(plan.retryAfterSeconds));
    return statusError(status);
  }

  /** SendGrid reports its window in X-RateLimit-* headers; Reset is a Unix time in seconds. */
  private rateLimitHeaders(retryAfterSeconds: number | undefined): Record<string, string> {
    const resetAt = Math.ceil(Date.now() / 1000) + (retryAfterSeconds ?? 1);
    return {
      'x-ratelimit-limit': String(this.rateLimitPerWindow),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(resetAt),
    };
  }
}
