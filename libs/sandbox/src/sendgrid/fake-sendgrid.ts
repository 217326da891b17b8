import {
  generateKeyPairSync,
  randomBytes,
  sign,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import {
  FakeProviderServer,
  WebhookSender,
  type WebhookDeliveryOptions,
  type WebhookPost,
  type WebhookRoute,
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
  /** Where and what the Event Webhook posts; no events are posted without it. */
  readonly eventWebhook?: SendGridEventWebhookOptions;
  /** Retries, timeouts and the ingress in front of the gateway, for the event posts. */
  readonly webhooks?: WebhookDeliveryOptions;
}

/** The signed Event Webhook, as configured under Mail Settings. */
export interface SendGridEventWebhookOptions {
  /** The HTTP POST URL SendGrid posts event batches to. */
  readonly url: string;
  /** Wait before each stage (processed, then delivered or bounce, then open); default 100 ms. */
  readonly delayMs?: number;
  /** Recipients whose mail bounces (type bounce, 5.1.1) instead of being delivered. */
  readonly bounceAddresses?: readonly string[];
  /** Recipients who open the mail after it was delivered. */
  readonly openAddresses?: readonly string[];
  /** Fraction 0..1 of the other delivered recipients who open it too. */
  readonly openFraction?: number;
  /** Events that are due within this window go out in one POST; default 50 ms. */
  readonly batchWindowMs?: number;
  /** The most events in one POST; default 1000. */
  readonly maxBatchSize?: number;
}

/** One event as SendGrid posts it: its own fields, then the mail's custom args at the top level. */
export type SendGridEvent = Readonly<Record<string, unknown>> & {
  readonly email: string;
  readonly timestamp: number;
  readonly event: string;
  readonly sg_event_id: string;
  readonly sg_message_id: string;
};

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';
const DEFAULT_EVENT_DELAY_MS = 100;
const DEFAULT_BATCH_WINDOW_MS = 50;
const DEFAULT_MAX_BATCH_SIZE = 1000;

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

interface EventRecipient {
  readonly email: string;
  readonly customArgs: Readonly<Record<string, string>>;
}

/** Each recipient with the custom args its events carry (the mail's, then its personalization's). */
function eventRecipients(mail: Record<string, unknown>): EventRecipient[] {
  const stringsOf = (value: unknown): Record<string, string> =>
    isRecord(value)
      ? Object.fromEntries(
          Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
        )
      : {};
  const mailArgs = stringsOf(mail.custom_args);
  const personalizations = Array.isArray(mail.personalizations)
    ? (mail.personalizations as unknown[])
    : [];
  return personalizations.flatMap((personalization) => {
    const customArgs = {
      ...mailArgs,
      ...stringsOf(isRecord(personalization) ? personalization.custom_args : undefined),
    };
    return sendGridRecipients({ personalizations: [personalization] }).map((email) => ({
      email,
      customArgs,
    }));
  });
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
  private readonly webhooks: WebhookSender;
  private readonly signingKey: KeyObject;
  private readonly queued: SendGridEvent[] = [];
  private flushScheduled = false;
  private eventWebhook: SendGridEventWebhookOptions | undefined;
  /**
   * The Event Webhook's verification key as SendGrid shows it: base64 of the DER (SPKI) P-256
   * public key, which @sendgrid/eventwebhook's convertPublicKeyToECDSA reads.
   */
  readonly eventWebhookPublicKey: string;

  constructor(options: FakeSendGridOptions) {
    super(options);
    this.apiKeys = options.apiKeys;
    this.keysWithoutSendScope = options.keysWithoutSendScope ?? [];
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.rateLimitPerWindow = options.rateLimitPerWindow ?? 600;
    this.webhooks = new WebhookSender(options.webhooks);
    this.eventWebhook = options.eventWebhook;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.signingKey = privateKey;
    this.eventWebhookPublicKey = publicKey
      .export({ type: 'spki', format: 'der' })
      .toString('base64');
  }

  /** Event batches posted so far, with the gateway's answers. */
  get eventPosts(): readonly WebhookPost[] {
    return this.webhooks.posts;
  }

  /** Every event posted so far (each batch's elements in order), oldest batch first. */
  get postedEvents(): readonly SendGridEvent[] {
    return this.webhooks.posts.flatMap((post) => JSON.parse(post.body) as SendGridEvent[]);
  }

  /** Changes what later mails report; undefined turns the Event Webhook off. */
  setEventWebhook(options: SendGridEventWebhookOptions | undefined): void {
    this.eventWebhook = options;
  }

  /** The ingress in front of the gateway (public URL → where it listens). */
  setWebhookRoute(route: WebhookRoute | undefined): void {
    this.webhooks.setRoute(route);
  }

  /** Resolves once every scheduled batch has been posted (or given up on). */
  webhooksIdle(): Promise<void> {
    return this.webhooks.idle();
  }

  override reset(): void {
    super.reset();
    this.webhooks.reset();
    this.queued.length = 0;
    this.flushScheduled = false;
  }

  override async close(): Promise<void> {
    await this.webhooks.close();
    await super.close();
  }

  protected override afterAnswer(
    _request: FakeRequest,
    parsed: ParsedRequest,
    response: FakeResponse,
  ): void {
    const webhook = this.eventWebhook;
    const xMessageId = response.providerMessageId;
    if (!webhook || response.status !== 202 || !xMessageId || !isRecord(parsed.body)) return;
    const mail = parsed.body;
    const delayMs = webhook.delayMs ?? DEFAULT_EVENT_DELAY_MS;
    const chosen = (list: readonly string[] | undefined) =>
      new Set((list ?? []).map((address) => address.toLowerCase()));
    const bounces = chosen(webhook.bounceAddresses);
    const opens = chosen(webhook.openAddresses);
    const recipients = eventRecipients(mail);
    const eventOf = (recipient: EventRecipient, index: number, event: string) =>
      this.event(mail, recipient, `${xMessageId}.filterdrecv-sandbox.${index}`, xMessageId, event);
    const stages: SendGridEvent[][] = [
      recipients.map((r, i) => eventOf(r, i, 'processed')),
      recipients.map((r, i) =>
        eventOf(r, i, bounces.has(r.email.toLowerCase()) ? 'bounce' : 'delivered'),
      ),
      recipients.flatMap((r, i) => {
        const email = r.email.toLowerCase();
        const opened =
          !bounces.has(email) && (opens.has(email) || (webhook.openFraction ?? 0) > this.random());
        return opened ? [eventOf(r, i, 'open')] : [];
      }),
    ];
    stages.forEach((events, stage) => {
      if (events.length === 0) return;
      this.webhooks.later(delayMs * (stage + 1), () => {
        this.enqueue(webhook, events);
        return Promise.resolve();
      });
    });
  }

  private event(
    mail: Record<string, unknown>,
    recipient: EventRecipient,
    sgMessageId: string,
    xMessageId: string,
    event: string,
  ): SendGridEvent {
    const categories = Array.isArray(mail.categories)
      ? (mail.categories as unknown[]).filter((c): c is string => typeof c === 'string')
      : [];
    const details: Record<string, unknown> =
      event === 'delivered'
        ? { response: '250 2.0.0 OK', tls: 1, ip: '149.72.0.10' }
        : event === 'bounce'
          ? {
              type: 'bounce',
              status: '5.1.1',
              reason: '550 5.1.1 The email account that you tried to reach does not exist.',
              bounce_classification: 'Invalid Address',
              ip: '149.72.0.10',
            }
          : event === 'open'
            ? { useragent: 'Mozilla/5.0 (sandbox)', ip: '203.0.113.7', sg_machine_open: false }
            : {};
    return {
      // SendGrid copies custom args onto each event as top-level fields.
      ...recipient.customArgs,
      email: recipient.email,
      timestamp: Math.floor(Date.now() / 1000),
      'smtp-id': `<${xMessageId}@sandbox.sendgrid.net>`,
      event,
      sg_event_id: randomBytes(16).toString('base64url'),
      sg_message_id: sgMessageId,
      ...(categories.length > 0 ? { category: categories } : {}),
      ...details,
    };
  }

  /** Adds due events to the next batch, which goes out after the batch window (or when full). */
  private enqueue(webhook: SendGridEventWebhookOptions, events: readonly SendGridEvent[]): void {
    this.queued.push(...events);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.webhooks.later(webhook.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS, async (signal) => {
      this.flushScheduled = false;
      const max = webhook.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
      const posts: Array<Promise<WebhookPost>> = [];
      while (this.queued.length > 0) {
        posts.push(this.postBatch(webhook.url, this.queued.splice(0, max), signal));
      }
      await Promise.all(posts);
    });
  }

  /** Signs timestamp + body with the webhook's P-256 key (ECDSA, SHA-256, DER, base64), as SendGrid does. */
  private postBatch(
    url: string,
    events: readonly SendGridEvent[],
    signal: AbortSignal,
  ): Promise<WebhookPost> {
    const body = JSON.stringify(events);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + body), this.signingKey).toString(
      'base64',
    );
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'SendGrid Event API',
      [SENDGRID_SIGNATURE_HEADER]: signature,
      [SENDGRID_TIMESTAMP_HEADER]: timestamp,
    };
    return this.webhooks.post('event-batch', url, headers, body, signal);
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
