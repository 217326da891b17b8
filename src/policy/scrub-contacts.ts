/**
 * Receipts travel to other teams' topics; provider error text sometimes echoes the recipient.
 * Anything that looks like a phone number, an email address or a long opaque token is replaced
 * before such text is put on a receipt.
 */
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const PHONE = /\+?\(?\d[\d\s().-]{6,}\d/g;
const TOKEN = /[A-Za-z0-9_:-]{32,}/g;
// An IPv4 address (connect ECONNREFUSED 127.0.0.1:5432) or a date is what an operator needs to
// read in an error, and no phone number looks like either.

/** Digit runs the phone pattern would take that are plainly something else. */
const NOT_A_PHONE = [/^\d{1,3}(\.\d{1,3}){3}$/, /^\d{4}-\d{2}-\d{2}$/];

export function scrubContacts(text: string): string {
  return text
    .replace(EMAIL, '[email]')
    .replace(TOKEN, '[token]')
    .replace(PHONE, (match) =>
      NOT_A_PHONE.some((pattern) => pattern.test(match)) ? match : '[phone]',
    );
}
