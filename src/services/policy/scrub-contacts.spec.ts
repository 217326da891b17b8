import { scrubContacts } from './scrub-contacts';

describe('scrubContacts', () => {
  it.each([
    ["The 'To' number +14155550199 is not valid", "The 'To' number [phone] is not valid"],
    ['bounced: li.wei@example.com', 'bounced: [email]'],
    ['token fcm-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa gone', 'token [token] gone'],
    ['Twilio error 21211 (HTTP 400)', 'Twilio error 21211 (HTTP 400)'],
    ['call (415) 555-0100 now', 'call [phone] now'],
  ])('%s', (input, expected) => {
    expect(scrubContacts(input)).toBe(expected);
  });
});
