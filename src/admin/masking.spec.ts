import type { CustomerProfile } from '../policy/model';
import {
  maskEmail,
  maskEndpoint,
  maskPhone,
  maskProfile,
  maskRecipient,
  maskToken,
} from './masking';

const profile: CustomerProfile = {
  customerId: 'c-1',
  phones: [{ value: '+14155550142', verified: true }],
  emails: [{ value: 'li.wei@example.com' }],
  whatsapp: [{ value: '+4915112345678' }],
  webPushSubscriptions: [
    {
      subscription: {
        endpoint: 'https://push.example.net/wpush/v2/abcdefghijklmnopqrstuvwxyz0123',
        keys: { p256dh: 'BPublicKeyMaterial', auth: 'authSecret' },
      },
    },
  ],
  fcmTokens: [{ token: 'fcm-token-1234567890-abcdefghijkl' }],
  preferredChannels: ['sms'],
  channelPreferences: { '*': { email: false } },
  consents: [],
  timeZone: 'UTC',
  version: 3,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('contact masking', () => {
  it('keeps the country calling code and the last two digits of a phone', () => {
    expect(maskPhone('+14155550142')).toBe('+1 ••••••••42');
    expect(maskPhone('+447700900189')).toBe('+44 ••••••••89');
    expect(maskPhone('+4930901820')).toBe('+49 ••••••20');
    expect(maskPhone('+123')).toBe('•••');
    expect(maskPhone('not a number')).toBe('•••');
  });

  it('keeps the first letters of the mailbox and the domain, and the top-level domain', () => {
    expect(maskEmail('li.wei@example.com')).toBe('l•••@e•••.com');
    expect(maskEmail('ana@mail.example.co.uk')).toBe('a•••@m•••.uk');
    expect(maskEmail('broken')).toBe('•••');
    expect(maskEmail('x@localhost')).toBe('x•••@•••');
  });

  it('shortens push tokens and endpoints', () => {
    expect(maskToken('fcm-token-1234567890-abcdefghijkl')).toBe('fcm-to•••ijkl');
    expect(maskToken('short')).toBe('•••');
    expect(maskEndpoint('https://push.example.net/wpush/v2/abcdefghijklmnopqrstuvwxyz0123')).toBe(
      'https://push.example.net/•••0123',
    );
  });

  it.each(['viewer', 'agent'] as const)('leaves no full contact in a profile for %s', (role) => {
    const text = JSON.stringify(maskProfile(profile, role));
    for (const secret of [
      '+14155550142',
      'li.wei@example.com',
      '+4915112345678',
      'fcm-token-1234567890-abcdefghijkl',
      'abcdefghijklmnopqrstuvwxyz0123',
      'BPublicKeyMaterial',
      'authSecret',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('+1 ••••••••42');
    expect(text).toContain('l•••@e•••.com');
    for (const revealing of ['4155', '0142', '@example']) expect(text).not.toContain(revealing);
  });

  it('shows an admin everything', () => {
    expect(maskProfile(profile, 'admin')).toBe(profile);
  });

  it('masks a command recipient the same way', () => {
    expect(maskRecipient({ phone: '+14155550142', email: 'li.wei@example.com' }, 'viewer')).toEqual(
      { phone: '+1 ••••••••42', email: 'l•••@e•••.com' },
    );
  });
});
