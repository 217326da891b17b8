import { z } from 'zod';
import {
  CATEGORY_PATTERN,
  type ProviderOutcome,
  type SuppressionReason,
} from '@omnigate/contracts';

/**
 * The webhook half of the SendGrid adapter: one element of an Event Webhook batch in our words.
 * Pure; the caller has checked the batch's signature. Correlation uses the custom args the
 * adapter sends with every mail (messageId, category), which SendGrid copies onto each event.
 */

/** SendGrid event → our outcome; anything not listed is `unknown`, never a success. */
export const SENDGRID_EVENT_OUTCOMES = {
  processed: 'sent',
  deferred: 'deferred',
  delivered: 'delivered',
  open: 'read',
  click: 'read',
  bounce: 'bounced',
  dropped: 'failed',
  spamreport: 'none',
  unsubscribe: 'none',
  group_unsubscribe: 'none',
} as const satisfies Readonly<Record<string, ProviderOutcome>>;

/** Our words for each event, for the timeline (SendGrid's reason text may quote the address). */
const DETAILS: Readonly<Record<string, string>> = {
  deferred: 'the receiving server deferred the mail; SendGrid retries',
  bounce: 'the receiving server refused the mail permanently',
  blocked: 'the receiving server blocked the mail',
  dropped: 'SendGrid dropped the mail without sending it',
  spamreport: 'the recipient reported the mail as spam',
  unsubscribe: 'the recipient unsubscribed',
  group_unsubscribe: 'the recipient unsubscribed from this kind of mail',
};

/**
 * Reasons SendGrid gives for a drop that name the address's standing on its suppression lists:
 * the address is to be suppressed here as well.
 */
const DROP_SUPPRESSIONS: ReadonlyArray<readonly [RegExp, SuppressionReason]> = [
  [/bounced address/i, 'HARD_BOUNCE'],
  [/spam reporting address/i, 'SPAM_REPORT'],
  [/unsubscribed address/i, 'UNSUBSCRIBE'],
];

const shortText = (max: number) => z.string().min(1).max(max);

/** The fields we read; SendGrid sends more, which pass through unread. */
export const sendGridEventSchema = z.looseObject({
  email: shortText(512),
  timestamp: z.number().int().nonnegative(),
  event: shortText(64),
  sg_event_id: shortText(256),
  sg_message_id: shortText(512).optional(),
  messageId: shortText(256).optional(),
  category: z.union([z.string(), z.array(z.string())]).optional(),
  type: z.string().max(64).optional(),
  reason: z.string().max(4096).optional(),
  status: z.string().max(64).optional(),
  bounce_classification: z.string().max(128).optional(),
});
export type SendGridEvent = z.infer<typeof sendGridEventSchema>;

export interface SendGridEventReport {
  readonly eventId: string;
  readonly messageId: string;
  readonly providerMessageId: string | null;
  readonly providerStatus: string;
  readonly outcome: ProviderOutcome;
  readonly errorCode: string | null;
  readonly detail: string | null;
  readonly occurredAt: Date;
  /** The address (email) for the caller to hash when the event suppresses it; never logged. */
  readonly recipient: string;
  readonly suppress?: { readonly reason: SuppressionReason; readonly category?: string };
}

export type SendGridEventParse =
  | { readonly kind: 'event'; readonly report: SendGridEventReport }
  /** Mail we did not send (another system on the account), or sent before the custom args. */
  | { readonly kind: 'foreign' }
  | { readonly kind: 'invalid'; readonly problem: string };

/** The category custom arg (SendGrid merges it with the categories list). */
function categoryOf(event: SendGridEvent): string | undefined {
  const candidates = Array.isArray(event.category) ? event.category : [event.category];
  return candidates.find(
    (value): value is string => typeof value === 'string' && CATEGORY_PATTERN.test(value),
  );
}

function suppressionOf(event: SendGridEvent): SendGridEventReport['suppress'] {
  switch (event.event) {
    case 'bounce':
      // "blocked" is a temporary refusal (an IP reputation block), not the mailbox gone.
      return event.type === 'blocked' ? undefined : { reason: 'HARD_BOUNCE' };
    case 'dropped': {
      const found = DROP_SUPPRESSIONS.find(([pattern]) => pattern.test(event.reason ?? ''));
      return found ? { reason: found[1] } : undefined;
    }
    case 'spamreport':
      return { reason: 'SPAM_REPORT' };
    case 'unsubscribe':
      return { reason: 'UNSUBSCRIBE' };
    case 'group_unsubscribe': {
      // Without the category, an unsubscribe from one kind of mail would stop every kind.
      const category = categoryOf(event);
      return category === undefined ? undefined : { reason: 'UNSUBSCRIBE', category };
    }
    default:
      return undefined;
  }
}

export function parseSendGridEvent(element: unknown): SendGridEventParse {
  const parsed = sendGridEventSchema.safeParse(element);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      kind: 'invalid',
      problem: `${issue?.path.map(String).join('.') || 'event'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  const event = parsed.data;
  if (event.messageId === undefined) return { kind: 'foreign' };
  const blocked = event.event === 'bounce' && event.type === 'blocked';
  const outcome: ProviderOutcome = blocked
    ? 'failed'
    : ((SENDGRID_EVENT_OUTCOMES as Readonly<Record<string, ProviderOutcome>>)[event.event] ??
      'unknown');
  const suppress = suppressionOf(event);
  const detailKey = blocked ? 'blocked' : event.event;
  return {
    kind: 'event',
    report: {
      eventId: event.sg_event_id,
      messageId: event.messageId,
      providerMessageId: event.sg_message_id ?? null,
      providerStatus: blocked ? 'blocked' : event.event,
      outcome,
      // The SMTP status (5.1.1), when the event has one; never the server's free text.
      errorCode: /^[0-9][0-9.]{0,15}$/.test(event.status ?? '') ? event.status! : null,
      detail: DETAILS[detailKey] ?? null,
      occurredAt: new Date(event.timestamp * 1000),
      recipient: event.email,
      ...(suppress ? { suppress } : {}),
    },
  };
}
