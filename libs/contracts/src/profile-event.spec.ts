import { decodeProfileEvent } from './profile-decode';

const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const upsert = {
  type: 'upsert',
  customerId: 'cust-1',
  version: 3,
  occurredAt: '2026-11-24T10:00:00Z',
  profile: {
    phones: [{ value: '+14155550100', verified: true }],
    preferredChannels: ['whatsapp', 'sms'],
    channelPreferences: { marketing: { sms: false }, '*': { email: true } },
    timeZone: 'Europe/Berlin',
    quietHours: { start: '22:00', end: '07:00' },
  },
};

describe('decodeProfileEvent', () => {
  it('reads a partial upsert', () => {
    const result = decodeProfileEvent('cust-1', encode(upsert), { maxBytes: 65536 });
    expect(result.ok && 'event' in result && result.event.type).toBe('upsert');
  });

  it('treats a record without a value as a deletion of its key', () => {
    expect(decodeProfileEvent('cust-1', null, { maxBytes: 65536 })).toEqual({
      ok: true,
      tombstone: { customerId: 'cust-1' },
    });
  });

  it.each([
    ['no key', null, encode(upsert), 'EMPTY_KEY', 'keyed by customerId'],
    ['a key for another customer', 'cust-2', encode(upsert), 'KEY_MISMATCH', 'differs from'],
    ['not JSON', 'cust-1', Buffer.from('{oops'), 'INVALID_JSON', 'not valid JSON'],
    [
      'an unknown time zone',
      'cust-1',
      encode({ ...upsert, profile: { timeZone: 'Mars/Olympus' } }),
      'SCHEMA_VIOLATION',
      'profile.timeZone',
    ],
    [
      'a bad quiet-hours time',
      'cust-1',
      encode({ ...upsert, profile: { quietHours: { start: '25:00', end: '07:00' } } }),
      'SCHEMA_VIOLATION',
      'profile.quietHours.start',
    ],
    [
      'an unknown channel preference',
      'cust-1',
      encode({ ...upsert, profile: { preferredChannels: ['fax'] } }),
      'SCHEMA_VIOLATION',
      'preferredChannels[0]: unknown channel',
    ],
    [
      'a bad phone',
      'cust-1',
      encode({ ...upsert, profile: { phones: [{ value: '0800' }] } }),
      'SCHEMA_VIOLATION',
      'E.164',
    ],
    [
      'a push endpoint that url.parse reads as another host',
      'cust-1',
      encode({
        ...upsert,
        profile: {
          webPushSubscriptions: [
            {
              subscription: {
                endpoint: 'https://127.0.0.1;.push.apple.com/x',
                keys: { p256dh: 'BNcRdreALRFXTkOO', auth: 'tBHItJI5svbpez7KI4CCXg' },
              },
            },
          ],
        },
      }),
      'SCHEMA_VIOLATION',
      'lowercase DNS name',
    ],
  ])('rejects %s', (_name, key, value, code, words) => {
    const result = decodeProfileEvent(key, value, { maxBytes: 65536 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(code);
    expect(result.message).toContain(words);
  });
});
