import { generateVAPIDKeys } from 'web-push';
import { VapidAuthorizations } from './vapid-authorizations';

function claimsOf(authorization: string): { aud: string; exp: number; sub: string } {
  // "vapid t=<jwt>, k=<public key>"
  const token = /t=([^,]+)/.exec(authorization)?.[1] ?? '';
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    aud: string;
    exp: number;
    sub: string;
  };
}

describe('VapidAuthorizations', () => {
  const keys = { subject: 'mailto:ops@example.com', ...generateVAPIDKeys() };

  it('signs once per origin and reuses the header within the hour', () => {
    let now = Date.UTC(2026, 11, 4, 12);
    const vapid = new VapidAuthorizations(keys, () => now);
    const first = vapid.forOrigin('https://updates.push.services.mozilla.com');
    now += 59 * 60 * 1000;
    expect(vapid.forOrigin('https://updates.push.services.mozilla.com')).toBe(first);
    const other = vapid.forOrigin('https://web.push.apple.com');
    expect(other).not.toBe(first);
    expect(claimsOf(first)).toMatchObject({
      aud: 'https://updates.push.services.mozilla.com',
      sub: keys.subject,
    });
    expect(claimsOf(other).aud).toBe('https://web.push.apple.com');
    expect(first).toContain(`k=${keys.publicKey}`);
  });

  it('signs again after an hour, with an expiry 12 hours ahead of the signing', () => {
    let now = Date.UTC(2026, 11, 4, 12);
    const vapid = new VapidAuthorizations(keys, () => now);
    const first = vapid.forOrigin('https://fcm.googleapis.com');
    expect(claimsOf(first).exp).toBe(now / 1000 + 12 * 3600);
    now += 61 * 60 * 1000;
    const second = vapid.forOrigin('https://fcm.googleapis.com');
    expect(second).not.toBe(first);
    expect(claimsOf(second).exp).toBe(now / 1000 + 12 * 3600);
  });
});
