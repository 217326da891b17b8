/**
 * Receipts travel to other teams' topics; provider error text sometimes echoes the recipient.
 * Anything that looks like a phone number, an email address or a long opaque token is replaced
 * before such text is put on a receipt.
 */
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const PHONE = /\+?\(?\d[\d\s().-]{6,}\d/g;
const TOKEN = /[A-Za-z0-9_:-]{32,}/g;

export function scrubContacts(text: string): string {
  return text.replace(EMAIL, '[email]').replace(TOKEN, '[token]').replace(PHONE, '[phone]');
}
