import { scrubContacts } from './scrub-contacts';

describe('scrubContacts', () => {
  it.each([
    ["The 'To' number +14155550199 is not valid", "The 'To' number [phone] is not valid"],
    ['bounced: li.wei@example.com', 'bounced: [email]'],
    ['token fcm-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa gone', 'token [token] gone'],
    ['Twilio error 21211 (HTTP 400)', 'Twilio error 21211 (HTTP 400)'],
    ['call (415) 555-0100 now', 'call [phone] now'],
    ['connect ECONNREFUSED 127.0.0.1:5432', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['frees at 2026-12-05T15:28:26.429Z', 'frees at 2026-12-05T15:28:26.429Z'],
    ['call 441.555.0100 now', 'call [phone] now'],
  ])('%s', (input, expected) => {
    expect(scrubContacts(input)).toBe(expected);
  });
});
