import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from '../channel-adapter';
import {
  configurationError,
  requireOption,
  TWILIO_MESSAGING_ERROR_DESCRIPTIONS,
  TWILIO_MESSAGING_ERROR_KINDS,
  TwilioMessageSender,
  twilioStatusCallbackUrl,
  type TwilioAccountOptions,
  type VendorErrorDescriptions,
  type VendorErrorTable,
} from './twilio-client';

/** Twilio codes a WhatsApp send can meet → our kinds; anything else falls back on the HTTP status. */
export const TWILIO_WHATSAPP_ERROR_KINDS = {
  ...TWILIO_MESSAGING_ERROR_KINDS,
  '21655': 'configuration', // ContentSid unknown: the template mapping is wrong
  '21656': 'permanent', // ContentVariables rejected for this message
  '21910': 'configuration', // From and To on different channels: the sender is not a WhatsApp sender
  '63003': 'invalid_recipient', // the To address is not on WhatsApp
  '63007': 'configuration', // no WhatsApp sender with this From on the account
  '63016': 'permanent', // free text outside the 24-hour window: only a template may go
  '63024': 'invalid_recipient', // invalid message recipient
} as const satisfies VendorErrorTable;

/** What each WhatsApp code means, in our words (ChannelError messages never carry Twilio's text). */
export const TWILIO_WHATSAPP_ERROR_DESCRIPTIONS = {
  ...TWILIO_MESSAGING_ERROR_DESCRIPTIONS,
  '21655': 'unknown ContentSid',
  '21656': 'ContentVariables rejected',
  '21910': "'From' and 'To' are on different channels",
  '63003': "the 'To' address is not on WhatsApp",
  '63007': "no WhatsApp sender with this 'From' on the account",
  '63016': 'free text outside the 24-hour window; only a template may be sent',
  '63024': 'invalid message recipient',
} as const satisfies VendorErrorDescriptions<typeof TWILIO_WHATSAPP_ERROR_KINDS>;

const WHATSAPP_PREFIX = 'whatsapp:';
const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;

/** Template name → language (as in the command, e.g. "en_US") → Twilio ContentSid (HX…). */
export type WhatsAppContentSids = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface TwilioWhatsAppAdapterOptions extends TwilioAccountOptions {
  /** The WhatsApp sender number, E.164 with or without the "whatsapp:" prefix. */
  readonly from: string;
  /** Approved templates; a template message whose name and language are not here is refused. */
  readonly contentSids?: WhatsAppContentSids;
  /** The gateway's public base URL; see TwilioSmsAdapterOptions.webhookBaseUrl. */
  readonly webhookBaseUrl?: string;
}

function whatsappAddress(address: string): string {
  return address.startsWith(WHATSAPP_PREFIX) ? address : `${WHATSAPP_PREFIX}${address}`;
}

function templateKey(name: string, language: string): string {
  return JSON.stringify([name, language]);
}

/** WhatsApp through Twilio's Messages API: free text as Body, templates as ContentSid + variables. */
export class TwilioWhatsAppAdapter implements ChannelAdapter<'whatsapp'> {
  readonly channel = 'whatsapp' as const;
  readonly providerId: string;
  private readonly sender: TwilioMessageSender;
  private readonly from: string;
  private readonly contentSidsByTemplate = new Map<string, string>();

  constructor(private readonly options: TwilioWhatsAppAdapterOptions) {
    this.sender = new TwilioMessageSender(options, {
      kinds: TWILIO_WHATSAPP_ERROR_KINDS,
      descriptions: TWILIO_WHATSAPP_ERROR_DESCRIPTIONS,
    });
    this.providerId = options.providerId;
    this.from = whatsappAddress(requireOption(options.providerId, 'from', options.from));
    for (const [name, languages] of Object.entries(options.contentSids ?? {})) {
      for (const [language, sid] of Object.entries(languages)) {
        if (!CONTENT_SID.test(sid)) {
          throw configurationError(
            options.providerId,
            `option "contentSids" maps ${name}/${language} to "${sid}", which is not a ContentSid (HX + 32 hex)`,
          );
        }
        this.contentSidsByTemplate.set(templateKey(name, language), sid);
      }
    }
  }

  send(message: OutboundMessage<'whatsapp'>): Promise<ProviderAcceptance> {
    const common = {
      to: whatsappAddress(message.address),
      from: this.from,
      statusCallback:
        this.options.webhookBaseUrl === undefined
          ? undefined
          : twilioStatusCallbackUrl(
              this.options.webhookBaseUrl,
              this.providerId,
              message.messageId,
            ),
    };
    const content = message.content;
    if ('text' in content) {
      return this.sender.send({ ...common, body: content.text });
    }
    const { name, language, variables } = content.template;
    const contentSid = this.contentSidsByTemplate.get(templateKey(name, language));
    if (contentSid === undefined) {
      // Another provider may have this template approved, so this is about our setup, not the message.
      return Promise.reject(
        configurationError(
          this.providerId,
          `no ContentSid configured for WhatsApp template "${name}" in language "${language}"`,
        ),
      );
    }
    return this.sender.send({
      ...common,
      contentSid,
      contentVariables: variables === undefined ? undefined : JSON.stringify(variables),
    });
  }
}
