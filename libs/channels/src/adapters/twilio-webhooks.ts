import type { ProviderOutcome, SuppressionReason } from '@omnigate/contracts';
import { TWILIO_SMS_ERROR_DESCRIPTIONS } from './twilio-sms.adapter';
import { TWILIO_WHATSAPP_ERROR_DESCRIPTIONS } from './twilio-whatsapp.adapter';

/**
 * The webhook half of the Twilio adapters: what Twilio's status callbacks and inbound messages
 * mean in our words. Pure; the caller has checked the signature.
 */

/**
 * Twilio MessageStatus → our outcome. The steps before the handset (accepted, queued, sending…)
 * change no status; anything not listed is `unknown`, never a success.
 */
export const TWILIO_STATUS_OUTCOMES = {
  accepted: 'none',
  scheduled: 'none',
  queued: 'none',
  sending: 'none',
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  undelivered: 'failed',
  failed: 'failed',
  canceled: 'failed',
} as const satisfies Readonly<Record<string, ProviderOutcome>>;

/** Twilio error codes in a status callback that say the address itself must not be used again. */
const SUPPRESSING_ERROR_CODES: Readonly<Record<string, SuppressionReason>> = {
  '21610': 'STOP_KEYWORD', // the recipient replied STOP
};

/** Opt-out keywords Twilio honours by default, and the opt-in ones (matched on the whole body). */
export const TWILIO_STOP_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'];
export const TWILIO_START_KEYWORDS = ['START', 'YES', 'UNSTOP'];

const WHATSAPP_PREFIX = 'whatsapp:';
const SID = /^[A-Za-z0-9]{2,64}$/;
const STATUS_WORD = /^[a-z_]{1,64}$/;
const ERROR_CODE = /^\d{1,10}$/;

export type TwilioParams = Readonly<Record<string, string | undefined>>;

export interface TwilioStatusReport {
  readonly providerMessageId: string;
  readonly channel: 'sms' | 'whatsapp';
  readonly providerStatus: string;
  readonly outcome: ProviderOutcome;
  readonly errorCode: string | null;
  /** Our words for the error code; never Twilio's text, which may quote the recipient. */
  readonly detail: string | null;
  /** The recipient (To), for the caller to hash when the report suppresses it; never logged. */
  readonly recipient: string | null;
  readonly suppressReason?: SuppressionReason;
}

export type TwilioParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const ERROR_DESCRIPTIONS: Readonly<Record<string, string>> = {
  ...TWILIO_SMS_ERROR_DESCRIPTIONS,
  ...TWILIO_WHATSAPP_ERROR_DESCRIPTIONS,
};

function channelOf(address: string | undefined): 'sms' | 'whatsapp' {
  return address?.toLowerCase().startsWith(WHATSAPP_PREFIX) ? 'whatsapp' : 'sms';
}

/** A status callback's form fields → our report. */
export function parseTwilioStatusCallback(
  params: TwilioParams,
): TwilioParseResult<TwilioStatusReport> {
  const sid = params.MessageSid ?? params.SmsSid;
  if (sid === undefined || !SID.test(sid)) {
    return { ok: false, problem: 'MessageSid is missing or not a Twilio sid' };
  }
  const status = (params.MessageStatus ?? params.SmsStatus)?.trim().toLowerCase();
  if (status === undefined || !STATUS_WORD.test(status)) {
    return { ok: false, problem: 'MessageStatus is missing or not a status word' };
  }
  const rawCode = params.ErrorCode?.trim();
  // Twilio sends ErrorCode=0 or an empty field on some successes.
  const errorCode = rawCode && rawCode !== '0' ? rawCode : null;
  if (errorCode !== null && !ERROR_CODE.test(errorCode)) {
    return { ok: false, problem: 'ErrorCode is not a number' };
  }
  const outcome: ProviderOutcome =
    (TWILIO_STATUS_OUTCOMES as Readonly<Record<string, ProviderOutcome>>)[status] ?? 'unknown';
  const suppressReason = errorCode === null ? undefined : SUPPRESSING_ERROR_CODES[errorCode];
  const recipient = params.To?.trim() || null;
  return {
    ok: true,
    value: {
      providerMessageId: sid,
      channel: channelOf(params.To ?? params.From),
      providerStatus: status,
      outcome,
      errorCode,
      detail:
        errorCode === null ? null : (ERROR_DESCRIPTIONS[errorCode] ?? `Twilio error ${errorCode}`),
      recipient,
      ...(suppressReason && recipient ? { suppressReason } : {}),
    },
  };
}

export interface TwilioInboundConsent {
  readonly providerMessageId: string;
  readonly channel: 'sms' | 'whatsapp';
  /** The sender (From), for the caller to hash; never logged. */
  readonly sender: string;
  readonly action: 'opt-out' | 'opt-in';
  readonly keyword: string;
}

/**
 * An inbound message → the consent change it asks for, or null for any other message (HELP, a
 * reply, a question): Twilio's OptOutType when Advanced Opt-Out set it, else the whole body as a
 * keyword. Only the keyword is kept, never the rest of the body.
 */
export function parseTwilioInbound(
  params: TwilioParams,
): TwilioParseResult<TwilioInboundConsent | null> {
  const sid = params.MessageSid ?? params.SmsSid;
  if (sid === undefined || !SID.test(sid)) {
    return { ok: false, problem: 'MessageSid is missing or not a Twilio sid' };
  }
  const sender = params.From?.trim();
  if (!sender) return { ok: false, problem: 'From is missing' };
  const optOutType = params.OptOutType?.trim().toUpperCase();
  const word = (params.Body ?? '').trim().toUpperCase();
  const action =
    optOutType === 'STOP' || TWILIO_STOP_KEYWORDS.includes(word)
      ? 'opt-out'
      : optOutType === 'START' || TWILIO_START_KEYWORDS.includes(word)
        ? 'opt-in'
        : null;
  if (action === null) return { ok: true, value: null };
  const keyword =
    TWILIO_STOP_KEYWORDS.includes(word) || TWILIO_START_KEYWORDS.includes(word)
      ? word
      : (optOutType ?? 'STOP');
  return {
    ok: true,
    value: { providerMessageId: sid, channel: channelOf(sender), sender, action, keyword },
  };
}
