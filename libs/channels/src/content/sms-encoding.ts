import { SegmentedMessage } from 'sms-segments-calculator';
import unicodeToGsm from 'sms-segments-calculator/dist/libs/UnicodeToGSM';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

/** How an SMS body travels over the air: its encoding and how many segments the carrier bills. */
export interface SmsEnvelope {
  readonly encoding: SmsEncoding;
  readonly segments: number;
  readonly characters: number;
}

/** Septets in one GSM-7 segment alone, and in each part of a concatenated message (6-octet UDH). */
const GSM_SINGLE_SEPTETS = 160;
const GSM_PART_SEPTETS = 153;

/**
 * Encoding and segment count by the GSM 03.38 rules (a single non-GSM character such as Chinese or
 * an emoji switches the whole message to UCS-2 and shrinks segments from 153/160 to 67/70).
 */
export function describeSms(text: string): SmsEnvelope {
  return describeGsmText(text) ?? describeWithCalculator(text);
}

function describeWithCalculator(text: string): SmsEnvelope {
  const message = new SegmentedMessage(text);
  const encoding: SmsEncoding = message.encodingName === 'GSM-7' ? 'GSM-7' : 'UCS-2';
  return { encoding, segments: message.segmentsCount, characters: message.numberOfCharacters };
}

/**
 * The common case without splitting graphemes (the calculator's cost on the send path): text made
 * only of GSM-7 characters, counted from the calculator's own character table; undefined for any
 * other text, which the calculator then describes.
 * Each part of a long message holds 153 septets, and an escaped character (two septets, such as
 * € or [) never straddles two parts.
 */
function describeGsmText(text: string): SmsEnvelope | undefined {
  let characters = 0;
  let segments = 1;
  let inPart = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const septets = unicodeToGsm[code]?.length;
    if (septets === undefined) return undefined;
    characters += septets;
    if (inPart + septets > GSM_PART_SEPTETS) {
      segments += 1;
      inPart = 0;
    }
    inPart += septets;
  }
  return {
    encoding: 'GSM-7',
    segments: characters <= GSM_SINGLE_SEPTETS ? 1 : segments,
    characters,
  };
}
