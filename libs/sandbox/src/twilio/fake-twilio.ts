import { randomBytes, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import {
  FakeProviderServer,
  retryAfterHeaders,
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

export interface FakeTwilioOptions extends FakeServerOptions {
  /** Accounts the fake knows: AccountSid (AC…) → auth token. Anything else gets error 20003. */
  readonly accounts: Readonly<Record<string, string>>;
  /**
   * What Twilio reports to a message's StatusCallback; on unless `false`. Callbacks are signed
   * with the sending account's auth token over the StatusCallback URL exactly as given.
   */
  readonly statusCallbacks?: TwilioStatusCallbackOptions | false;
  /** Where inboundMessage() posts when not told otherwise (the number's "A message comes in" URL). */
  readonly inboundUrl?: string;
  /** Retries, timeouts and the ingress in front of the gateway, for every post the fake makes. */
  readonly webhooks?: WebhookDeliveryOptions;
}

export interface TwilioStatusCallbackOptions {
  /** Wait before each status (sent, then delivered, then read); default 100 ms. */
  readonly delayMs?: number;
  /** Numbers (E.164, with or without "whatsapp:") that end `undelivered` with ErrorCode 30003. */
  readonly undeliveredNumbers?: readonly string[];
  /** WhatsApp messages also get `read` after `delivered`. */
  readonly readForWhatsApp?: boolean;
}

/** A message someone texts to one of the account's numbers. */
export interface TwilioInboundMessage {
  /** The customer's number, "whatsapp:+1…" for WhatsApp. */
  readonly from: string;
  /** The account's number the customer wrote to. */
  readonly to: string;
  readonly body: string;
  /** Defaults to the fake's inboundUrl. */
  readonly url?: string;
  /** The account the number belongs to (signs the webhook); defaults to the first account. */
  readonly accountSid?: string;
}

/** Twilio's Advanced Opt-Out keywords, as it reports them in OptOutType. */
const OPT_OUT_KEYWORDS: Readonly<Record<string, 'STOP' | 'START' | 'HELP'>> = {
  STOP: 'STOP',
  STOPALL: 'STOP',
  UNSUBSCRIBE: 'STOP',
  CANCEL: 'STOP',
  END: 'STOP',
  QUIT: 'STOP',
  START: 'START',
  YES: 'START',
  UNSTOP: 'START',
  HELP: 'HELP',
  INFO: 'HELP',
};
const DEFAULT_CALLBACK_DELAY_MS = 100;
// Twilio's "Unknown destination handset": the carrier could not reach the phone.
const UNDELIVERED_ERROR_CODE = '30003';
const API_VERSION = '2010-04-01';

/** Form fields as twilio-node sends them; a repeated field (MediaUrl) becomes an array. */
export type TwilioFormFields = Readonly<Record<string, string | readonly string[]>>;

interface TwilioErrorSpec {
  readonly status: number;
  readonly message: string;
}

/**
 * Codes the fake can answer with and the HTTP status Twilio pairs them with. A code from
 * recipientErrors that is not listed here is answered with 400, as Twilio does for most of its
 * 21xxx/63xxx validation errors. 30xxx codes are delivery errors Twilio reports later in status
 * callbacks; the fake answers them synchronously so tests can still drive them.
 */
export const TWILIO_ERROR_RESPONSES: Readonly<Record<string, TwilioErrorSpec>> = {
  '20003': { status: 401, message: 'Authenticate' },
  '20404': { status: 404, message: 'The requested resource was not found' },
  '20429': { status: 429, message: 'Too Many Requests' },
  '20500': { status: 500, message: 'Internal Server Error' },
  '20503': { status: 503, message: 'Service Unavailable' },
  '21211': { status: 400, message: "Invalid 'To' Phone Number" },
  '21408': {
    status: 400,
    message: 'Permission to send an SMS has not been enabled for the region',
  },
  '21602': { status: 400, message: 'Message body is required.' },
  '21603': { status: 400, message: "A 'From' phone number is required." },
  '21604': { status: 400, message: "A 'To' phone number is required." },
  '21606': {
    status: 400,
    message:
      "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
  },
  '21610': { status: 400, message: 'Attempt to send to unsubscribed recipient' },
  '21612': { status: 400, message: "The 'To' phone number is not currently reachable via SMS" },
  '21614': { status: 400, message: "'To' number is not a valid mobile number" },
  '21617': {
    status: 400,
    message: 'The concatenated message body exceeds the 1600 character limit.',
  },
  '21655': { status: 400, message: 'The ContentSid is Invalid.' },
  '21656': { status: 400, message: 'The ContentVariables Parameter is invalid.' },
  '21910': {
    status: 400,
    message: 'Invalid From and To pair. From and To should be of the same channel.',
  },
  '63007': {
    status: 400,
    message: 'Twilio could not find a Channel with the specified From address',
  },
};

const E164 = /^\+[1-9][0-9]{7,14}$/;
const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;
const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const WHATSAPP_PREFIX = 'whatsapp:';
const MAX_BODY_CHARS = 1600;
// Characters outside this set force UCS-2 (70 per SMS) instead of GSM-7 (160 per SMS).
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENDED = '^{}\\[~]|€\f';

/** How many SMS segments Twilio would bill for this body (GSM-7 or UCS-2, with concatenation headers). */
export function countSmsSegments(body: string): number {
  if (body.length === 0) return 1;
  let gsmUnits = 0;
  let isGsm = true;
  for (const char of body) {
    if (GSM7_BASIC.includes(char)) gsmUnits += 1;
    else if (GSM7_EXTENDED.includes(char)) gsmUnits += 2;
    else {
      isGsm = false;
      break;
    }
  }
  // UCS-2 counts UTF-16 code units: an emoji outside the BMP takes two.
  const [units, single, perSegment] = isGsm ? [gsmUnits, 160, 153] : [body.length, 70, 67];
  return units <= single ? 1 : Math.ceil(units / perSegment);
}

function formFields(raw: Buffer): TwilioFormFields {
  const fields: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) {
    const existing = fields[name];
    if (existing === undefined) fields[name] = value;
    else fields[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return fields;
}

function single(fields: TwilioFormFields, name: string): string | undefined {
  const value = fields[name];
  return Array.isArray(value) ? (value as readonly string[])[0] : (value as string | undefined);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function basicCredentials(header: string | undefined): [string, string] | undefined {
  const match = /^Basic (.+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

/** Twilio's date format in resources: RFC 2822, e.g. "Thu, 24 Aug 2023 05:01:45 +0000". */
function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

function twilioError(
  code: string,
  message?: string,
  headers?: Record<string, string>,
): FakeResponse {
  const spec = TWILIO_ERROR_RESPONSES[code];
  const status = spec?.status ?? 400;
  return {
    status,
    headers,
    body: {
      code: Number(code),
      message: message ?? spec?.message ?? `Error ${code}`,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status,
    },
  };
}

/**
 * Twilio's Programmable Messaging API, as twilio-node 6 calls it: `POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth. Answers 201 with
 * a message resource or Twilio's JSON error {code, message, more_info, status}.
 */
export class FakeTwilio extends FakeProviderServer {
  readonly name = 'twilio' as const;
  private readonly accounts: Readonly<Record<string, string>>;
  private readonly webhooks: WebhookSender;
  private statusCallbacks: TwilioStatusCallbackOptions | false;
  private inboundUrl: string | undefined;

  constructor(options: FakeTwilioOptions) {
    super(options);
    this.accounts = options.accounts;
    this.webhooks = new WebhookSender(options.webhooks);
    this.statusCallbacks = options.statusCallbacks ?? {};
    this.inboundUrl = options.inboundUrl;
  }

  /** Status callbacks and inbound messages posted so far, with the gateway's answers. */
  get webhookPosts(): readonly WebhookPost[] {
    return this.webhooks.posts;
  }

  /** Status callbacks posted so far, oldest first. */
  get statusCallbackPosts(): readonly WebhookPost[] {
    return this.webhooks.posts.filter((post) => post.kind === 'status-callback');
  }

  /** Changes what later sends report; `false` turns status callbacks off. */
  setStatusCallbacks(options: TwilioStatusCallbackOptions | false): void {
    this.statusCallbacks = options;
  }

  setInboundUrl(url: string | undefined): void {
    this.inboundUrl = url;
  }

  /** The ingress in front of the gateway (public URL → where it listens). */
  setWebhookRoute(route: WebhookRoute | undefined): void {
    this.webhooks.setRoute(route);
  }

  /** Resolves once every scheduled callback has been posted (or given up on). */
  webhooksIdle(): Promise<void> {
    return this.webhooks.idle();
  }

  /**
   * A customer texts one of the account's numbers: posts Twilio's signed inbound webhook (with
   * OptOutType for Advanced Opt-Out keywords) and resolves with the post and the gateway's answer.
   */
  async inboundMessage(message: TwilioInboundMessage): Promise<WebhookPost> {
    const url = message.url ?? this.inboundUrl;
    if (url === undefined) throw new Error('twilio fake: no inbound URL configured');
    const accountSid = message.accountSid ?? Object.keys(this.accounts)[0];
    const authToken = accountSid === undefined ? undefined : this.accounts[accountSid];
    if (accountSid === undefined || authToken === undefined) {
      throw new Error('twilio fake: inbound message for an account the fake does not know');
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const keyword = OPT_OUT_KEYWORDS[message.body.trim().toUpperCase()];
    const params: Record<string, string> = {
      ToCountry: 'US',
      SmsMessageSid: sid,
      NumMedia: '0',
      SmsSid: sid,
      SmsStatus: 'received',
      Body: message.body,
      To: message.to,
      NumSegments: '1',
      MessageSid: sid,
      AccountSid: accountSid,
      From: message.from,
      ApiVersion: API_VERSION,
      ...(keyword ? { OptOutType: keyword } : {}),
    };
    return this.postSigned('inbound-message', authToken, url, params);
  }

  override reset(): void {
    super.reset();
    this.webhooks.reset();
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
    const options = this.statusCallbacks;
    const fields = parsed.body as TwilioFormFields;
    const url = single(fields, 'StatusCallback');
    if (options === false || response.status !== 201 || url === undefined) return;
    const resource = response.body as Record<string, string | null>;
    const accountSid = resource.account_sid ?? '';
    const authToken = this.accounts[accountSid];
    if (authToken === undefined) return;
    const to = resource.to ?? '';
    const whatsapp = to.startsWith(WHATSAPP_PREFIX);
    const number = to.replace(WHATSAPP_PREFIX, '');
    const undelivered = (options.undeliveredNumbers ?? []).some(
      (n) => n.replace(WHATSAPP_PREFIX, '') === number,
    );
    const statuses: Array<[string, string | undefined]> = [
      ['sent', undefined],
      undelivered ? ['undelivered', UNDELIVERED_ERROR_CODE] : ['delivered', undefined],
      ...(whatsapp && !undelivered && options.readForWhatsApp
        ? [['read', undefined] as [string, undefined]]
        : []),
    ];
    const sid = resource.sid ?? '';
    const common: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: API_VERSION,
      MessageSid: sid,
      SmsSid: sid,
      From: resource.from ?? single(fields, 'From') ?? '',
      To: to,
      ...(resource.messaging_service_sid
        ? { MessagingServiceSid: resource.messaging_service_sid }
        : {}),
      ...(whatsapp ? { ChannelPrefix: 'whatsapp' } : {}),
    };
    const delayMs = options.delayMs ?? DEFAULT_CALLBACK_DELAY_MS;
    // One message's callbacks go out in order, each after the last one was answered, as Twilio's do.
    this.webhooks.later(delayMs, async (signal) => {
      for (const [index, [status, errorCode]] of statuses.entries()) {
        if (index > 0) await this.webhooks.pause(delayMs, signal);
        await this.postSigned(
          'status-callback',
          authToken,
          url,
          {
            ...common,
            MessageStatus: status,
            SmsStatus: status,
            ...(errorCode ? { ErrorCode: errorCode } : {}),
          },
          signal,
        );
      }
    });
  }

  private postSigned(
    kind: 'status-callback' | 'inbound-message',
    authToken: string,
    url: string,
    params: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<WebhookPost> {
    const headers = {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'user-agent': 'TwilioProxy/1.1',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, url, params),
    };
    return this.webhooks.post(kind, url, headers, new URLSearchParams(params).toString(), signal);
  }

  /** Form fields of every message the fake accepted, oldest first. */
  get acceptedMessages(): readonly TwilioFormFields[] {
    return this.requests.filter((r) => r.status === 201).map((r) => r.body as TwilioFormFields);
  }

  protected parse(request: FakeRequest): ParsedRequest {
    const fields = formFields(request.rawBody);
    return { body: fields, recipient: single(fields, 'To') };
  }

  protected respond(request: FakeRequest, parsed: ParsedRequest, plan: FailurePlan): FakeResponse {
    const route = MESSAGES_PATH.exec(request.path);
    if (!route?.[1])
      return twilioError('20404', `The requested resource ${request.path} was not found`);
    if (request.method !== 'POST') {
      return { status: 405, body: { code: 20004, message: 'Method not allowed', status: 405 } };
    }
    const accountSid = decodeURIComponent(route[1]);
    const credentials = basicCredentials(request.headers.authorization);
    const token = credentials ? this.accounts[credentials[0]] : undefined;
    if (!credentials || token === undefined || !sameSecret(credentials[1], token)) {
      return twilioError('20003');
    }
    if (credentials[0] !== accountSid) return twilioError('20003');

    const fields = parsed.body as TwilioFormFields;
    const invalid = this.validate(fields);
    if (invalid) return invalid;

    const to = single(fields, 'To') ?? '';
    const planned =
      plan.recipientErrors?.[to] ?? plan.recipientErrors?.[to.replace(WHATSAPP_PREFIX, '')];
    if (planned) {
      const headers = planned === '20429' ? retryAfterHeaders(plan.retryAfterSeconds) : undefined;
      return twilioError(planned, undefined, headers);
    }
    return this.accepted(accountSid, fields);
  }

  protected failureResponse(failure: PlannedFailure): FakeResponse {
    if (failure.status === 429)
      return twilioError('20429', undefined, retryAfterHeaders(failure.retryAfterSeconds));
    if (failure.status === 500) return twilioError('20500');
    if (failure.status === 503) return twilioError('20503');
    // Statuses Twilio has no code for (502 and 504 come from its edge): an error body without a code.
    return {
      status: failure.status,
      body: { message: `HTTP ${failure.status}`, status: failure.status },
    };
  }

  private validate(fields: TwilioFormFields): FakeResponse | undefined {
    const to = single(fields, 'To');
    const from = single(fields, 'From');
    const body = single(fields, 'Body');
    const contentSid = single(fields, 'ContentSid');
    const contentVariables = single(fields, 'ContentVariables');
    if (!to) return twilioError('21604');
    if (!from && !single(fields, 'MessagingServiceSid')) return twilioError('21603');
    const toIsWhatsApp = to.startsWith(WHATSAPP_PREFIX);
    if (from && from.startsWith(WHATSAPP_PREFIX) !== toIsWhatsApp) return twilioError('21910');
    const toNumber = toIsWhatsApp ? to.slice(WHATSAPP_PREFIX.length) : to;
    if (!E164.test(toNumber)) {
      return twilioError('21211', `The 'To' number ${to} is not a valid phone number.`);
    }
    if (!body && !contentSid && fields.MediaUrl === undefined) return twilioError('21602');
    if (body && body.length > MAX_BODY_CHARS) return twilioError('21617');
    if (contentSid !== undefined && !CONTENT_SID.test(contentSid)) return twilioError('21655');
    if (contentVariables !== undefined && !isJsonObject(contentVariables)) {
      return twilioError('21656');
    }
    return undefined;
  }

  private accepted(accountSid: string, fields: TwilioFormFields): FakeResponse {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const now = rfc2822(new Date());
    const to = single(fields, 'To') ?? '';
    const body = single(fields, 'Body') ?? '';
    const messagingServiceSid = single(fields, 'MessagingServiceSid') ?? null;
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}`;
    return {
      status: 201,
      providerMessageId: sid,
      body: {
        account_sid: accountSid,
        api_version: '2010-04-01',
        body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        // With a messaging service Twilio picks the sender later, so `from` is still empty.
        from: single(fields, 'From') ?? null,
        messaging_service_sid: messagingServiceSid,
        num_media: '0',
        num_segments: to.startsWith(WHATSAPP_PREFIX) ? '1' : String(countSmsSegments(body)),
        price: null,
        price_unit: 'USD',
        sid,
        status: messagingServiceSid && !single(fields, 'From') ? 'accepted' : 'queued',
        subresource_uris: { media: `${uri}/Media.json` },
        to,
        uri: `${uri}.json`,
      },
    };
  }
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
