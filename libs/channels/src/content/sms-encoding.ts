import { SegmentedMessage } from 'sms-segments-calculator';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

/** How an SMS body travels over the air: its encoding and how many segments the carrier bills. */
export interface SmsEnvelope {
  readonly encoding: SmsEncoding;
  readonly segments: number;
  readonly characters: number;
}

/**
 * Encoding and segment count by the GSM 03.38 rules (a single non-GSM character such as Chinese or
 * an emoji switches the whole message to UCS-2 and shrinks segments from 153/160 to 67/70).
 */
export function describeSms(text: string): SmsEnvelope {
  const message = new SegmentedMessage(text);
  const encoding: SmsEncoding = message.encodingName === 'GSM-7' ? 'GSM-7' : 'UCS-2';
  return { encoding, segments: message.segmentsCount, characters: message.numberOfCharacters };
}
