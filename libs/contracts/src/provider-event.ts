import { z } from 'zod';
import { channelSchema } from './channels';
import { CATEGORY_PATTERN } from './send-command';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextExceedsDepth } from './json-depth';
import { isoDateTime, upperSnakeCode } from './primitives';
import {
  describeJsonError,
  plainErrorMap,
  summarizeProblems,
  toProblems,
  type ValidationProblem,
} from './problems';

/**
 * ProviderEvent v1: what a provider told the gateway about a message after it was sent (a status
 * callback, an event webhook, a push app's acknowledgement) or about an address (an inbound STOP).
 * The webhook endpoints verify the provider's signature, translate the vendor's words into this
 * shape and write it to the provider-events topic before they answer 2xx; one consumer applies it
 * to the message log. Keyed by messageId (`address:<addressHash>` for address events), so one
 * message's events stay in order.
 */
export const PROVIDER_EVENT_SCHEMA_VERSION = 1;

/**
 * Where the message got to, in our words. `unknown` is a vendor status we cannot map: recorded and
 * relayed as an `unknown` receipt, never taken for success. `none` carries only a suppression (a
 * spam report, an unsubscribe) and changes no status.
 */
export const PROVIDER_OUTCOMES = [
  'sent',
  'deferred',
  'delivered',
  'read',
  'failed',
  'bounced',
  'unknown',
  'none',
] as const;
export type ProviderOutcome = (typeof PROVIDER_OUTCOMES)[number];

/**
 * Why an address stops receiving a channel: the customer texted STOP, the mailbox bounced hard,
 * the customer reported spam or unsubscribed, a push subscription or token is gone.
 */
export const SUPPRESSION_REASONS = [
  'STOP_KEYWORD',
  'HARD_BOUNCE',
  'SPAM_REPORT',
  'UNSUBSCRIBE',
  'SUBSCRIPTION_GONE',
] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

const text = (max: number) => z.string().min(1).max(max);

/** Keyed HMAC-SHA256 (hex) of the normalised address: the topic never carries the address itself. */
const addressHash = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 hex digits' });

const common = {
  schemaVersion: z.literal(PROVIDER_EVENT_SCHEMA_VERSION),
  /**
   * The provider's identity of the event, unique per provider: SendGrid's sg_event_id, Twilio's
   * MessageSid with the status (Twilio sends no event id), the push token's id with the ack kind.
   * The consumer deduplicates on (provider, eventId).
   */
  eventId: text(256),
  /** Our provider id (PROVIDERS_<CHANNEL> entry), e.g. "twilio" or "sendgrid". */
  provider: text(64),
  channel: channelSchema,
  /** When the provider says it happened (falls back to receivedAt when it does not say). */
  occurredAt: isoDateTime(),
  /** When the webhook endpoint received it. */
  receivedAt: isoDateTime(),
};

export const messageStatusEventSchema = z.strictObject({
  ...common,
  type: z.literal('message-status'),
  /** Our message id, from the signed callback URL, the custom args or the signed push token. */
  messageId: text(256),
  providerMessageId: text(512).nullable(),
  outcome: z.enum(PROVIDER_OUTCOMES),
  /** The vendor's own word, e.g. "undelivered", "bounce", "open" (kept for the timeline). */
  providerStatus: text(64),
  /** The vendor's error code, e.g. Twilio 30003; null when there is none. */
  errorCode: text(64).nullable(),
  /** Plain words, from the vendor where it gives them; never the message body or an address. */
  detail: text(1024).nullable(),
  /** The address behind this message should receive this channel no more (bounce, spam report). */
  suppress: z
    .strictObject({
      reason: z.enum(SUPPRESSION_REASONS),
      /** The address the provider named (the bounced mailbox), hashed like addressHash below. */
      addressHash,
      /** Only this category (an unsubscribe from one kind of mail); absent means every category. */
      category: z.string().regex(CATEGORY_PATTERN).optional(),
    })
    .optional(),
});
export type MessageStatusEvent = z.infer<typeof messageStatusEventSchema>;

export const addressConsentEventSchema = z.strictObject({
  ...common,
  type: z.literal('address-consent'),
  addressHash,
  /** opt-out: STOP, UNSUBSCRIBE, …; opt-in: START, UNSTOP, … */
  action: z.enum(['opt-out', 'opt-in']),
  /** The keyword as received, upper-cased, e.g. "STOP" (never the rest of the message). */
  keyword: upperSnakeCode().nullable(),
});
export type AddressConsentEvent = z.infer<typeof addressConsentEventSchema>;

export const providerEventSchema = z.discriminatedUnion('type', [
  messageStatusEventSchema,
  addressConsentEventSchema,
]);
export type ProviderEvent = z.infer<typeof providerEventSchema>;

/** The Kafka key that keeps one message's (or one address's) events in order. */
export function providerEventKey(event: ProviderEvent): string {
  return event.type === 'message-status' ? event.messageId : `address:${event.addressHash}`;
}

export type ProviderEventDecodeResult =
  | { readonly ok: true; readonly event: ProviderEvent }
  | {
      readonly ok: false;
      readonly code: 'PAYLOAD_TOO_LARGE' | 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'KEY_MISMATCH';
      readonly message: string;
      readonly problems: readonly ValidationProblem[];
    };

/** Reads one record of the provider-events topic; never throws for bad input. */
export function decodeProviderEvent(
  key: string | null,
  value: Buffer | null,
  options: { readonly maxBytes: number; readonly maxDepth?: number },
): ProviderEventDecodeResult {
  const fail = (
    code: 'PAYLOAD_TOO_LARGE' | 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'KEY_MISMATCH',
    message: string,
    problems: readonly ValidationProblem[] = [],
  ): ProviderEventDecodeResult => ({ ok: false, code, message, problems });
  if (value === null || value.length === 0) {
    return fail('SCHEMA_VIOLATION', 'the record has no value');
  }
  if (value.length > options.maxBytes) {
    return fail(
      'PAYLOAD_TOO_LARGE',
      `the record value is ${value.length} bytes, over the limit of ${options.maxBytes} bytes`,
    );
  }
  const text = value.toString('utf8');
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (jsonTextExceedsDepth(text, maxDepth)) {
    return fail(
      'SCHEMA_VIOLATION',
      `objects and arrays are nested more than ${maxDepth} levels deep, over the limit`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail('INVALID_JSON', `the record value is not valid JSON: ${describeJsonError(error)}`);
  }
  const result = providerEventSchema.safeParse(parsed, { error: plainErrorMap });
  if (!result.success) {
    const problems = toProblems(result.error);
    return fail('SCHEMA_VIOLATION', summarizeProblems(problems), problems);
  }
  if (key !== null && key !== providerEventKey(result.data)) {
    return fail('KEY_MISMATCH', 'the record key differs from the key its value calls for');
  }
  return { ok: true, event: result.data };
}
