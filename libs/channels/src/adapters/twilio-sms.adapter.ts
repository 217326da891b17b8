import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import {
  configurationError,
  TWILIO_MESSAGING_ERROR_DESCRIPTIONS,
  TWILIO_MESSAGING_ERROR_KINDS,
  TwilioMessageSender,
  twilioStatusCallbackUrl,
  type TwilioAccountOptions,
  type VendorErrorDescriptions,
  type VendorErrorTable,
} from './twilio-client';

/** Twilio codes an SMS send can meet → our kinds; anything else falls back on the HTTP status. */
export const TWILIO_SMS_ERROR_KINDS = {
  ...TWILIO_MESSAGING_ERROR_KINDS,
  // This account may not send to the number's country (Geo Permissions): another account may.
  '21408': 'configuration',
  '21612': 'invalid_recipient', // the number cannot receive SMS (e.g. a landline)
  '21614': 'invalid_recipient', // not a mobile number
  '21617': 'permanent', // body over 1,600 characters
  // Delivery errors: Twilio reports these in status callbacks; listed so webhooks can reuse the table.
  '30003': 'transient', // handset unreachable (off, out of coverage)
  '30005': 'invalid_recipient', // unknown handset
  '30006': 'invalid_recipient', // landline or unreachable carrier
  '30007': 'permanent', // filtered by the carrier
} as const satisfies VendorErrorTable;

/** What each SMS code means, in our words (ChannelError messages never carry Twilio's text). */
export const TWILIO_SMS_ERROR_DESCRIPTIONS = {
  ...TWILIO_MESSAGING_ERROR_DESCRIPTIONS,
  '21408': "this account may not send to the number's region",
  '21612': 'the number cannot receive SMS',
  '21614': 'not a mobile number',
  '21617': 'body over 1,600 characters',
  '30003': 'handset unreachable',
  '30005': 'unknown handset',
  '30006': 'landline or unreachable carrier',
  '30007': 'filtered by the carrier',
} as const satisfies VendorErrorDescriptions<typeof TWILIO_SMS_ERROR_KINDS>;

/** Twilio's ValidityPeriod ceiling in seconds (10 hours). */
const MAX_VALIDITY_PERIOD_SECONDS = 36_000;

export interface TwilioSmsAdapterOptions extends TwilioAccountOptions {
  /** Sender number (E.164) or alphanumeric sender id; set this or messagingServiceSid. */
  readonly from?: string;
  /** Messaging Service (MG…) that picks the sender; set this or from. */
  readonly messagingServiceSid?: string;
  /**
   * The gateway's public base URL (WEBHOOK_PUBLIC_BASE_URL): each send asks Twilio to post its
   * status updates to <base>/webhooks/twilio/<providerId>/status?messageId=<id>. Unset: no
   * StatusCallback, so no delivery reports.
   */
  readonly webhookBaseUrl?: string;
}

/** SMS through Twilio's Messages API. */
export class TwilioSmsAdapter implements ChannelAdapter<'sms'> {
  readonly channel = 'sms' as const;
  readonly providerId: string;
  private readonly sender: TwilioMessageSender;

  constructor(private readonly options: TwilioSmsAdapterOptions) {
    const hasFrom = Boolean(options.from?.trim());
    const hasService = Boolean(options.messagingServiceSid?.trim());
    if (hasFrom === hasService) {
      throw configurationError(
        options.providerId || 'twilio',
        hasFrom
          ? 'set either option "from" or option "messagingServiceSid", not both'
          : 'missing option "from" (or "messagingServiceSid")',
      );
    }
    this.sender = new TwilioMessageSender(options, {
      kinds: TWILIO_SMS_ERROR_KINDS,
      descriptions: TWILIO_SMS_ERROR_DESCRIPTIONS,
    });
    this.providerId = options.providerId;
  }

  send(message: OutboundMessage<'sms'>): Promise<ProviderAcceptance> {
    const { from, messagingServiceSid, webhookBaseUrl } = this.options;
    // Twilio honours ValidityPeriod only for Messaging Services; it drops messages still queued after it.
    const validityPeriod =
      messagingServiceSid && message.ttlSeconds
        ? Math.min(message.ttlSeconds, MAX_VALIDITY_PERIOD_SECONDS)
        : undefined;
    return this.sender.send({
      to: message.address,
      ...(from ? { from } : { messagingServiceSid }),
      body: message.content.text,
      statusCallback:
        webhookBaseUrl === undefined
          ? undefined
          : twilioStatusCallbackUrl(webhookBaseUrl, this.providerId, message.messageId),
      validityPeriod,
    });
  }
}
