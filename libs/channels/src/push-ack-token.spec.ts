import { PushAckTokens } from './push-ack-token';

const KEY = Buffer.alloc(32, 1);
const OLD_KEY = Buffer.alloc(32, 2);
const OTHER_KEY = Buffer.alloc(32, 3);
const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);
const TTL = 3600;
const MESSAGE = { messageId: 'msg-1', channel: 'webpush', providerId: 'webpush' } as const;

describe('PushAckTokens', () => {
  const tokens = new PushAckTokens(KEY, [OLD_KEY], TTL);

  it('verifies its own token and gives back the claims', () => {
    const verified = tokens.verify(tokens.issue(MESSAGE, NOW), NOW + 1000);
    expect(verified).toEqual({
      ok: true,
      claims: {
        tokenId: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) as unknown,
        messageId: 'msg-1',
        channel: 'webpush',
        providerId: 'webpush',
        expiresAt: NOW / 1000 + TTL,
      },
    });
  });

  it('gives each token its own id', () => {
    const ids = new Set(
      Array.from({ length: 20 }, () => {
        const result = tokens.verify(tokens.issue(MESSAGE, NOW), NOW);
        return result.ok ? result.claims.tokenId : 'refused';
      }),
    );
    expect(ids.size).toBe(20);
  });

  it('accepts a token signed under a previous key, refuses one under an unknown key', () => {
    const beforeRotation = new PushAckTokens(OLD_KEY, [], TTL).issue(MESSAGE, NOW);
    expect(tokens.verify(beforeRotation, NOW).ok).toBe(true);
    const foreign = new PushAckTokens(OTHER_KEY, [], TTL).issue(MESSAGE, NOW);
    expect(tokens.verify(foreign, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses an expired token', () => {
    const token = tokens.issue(MESSAGE, NOW);
    expect(tokens.verify(token, NOW + TTL * 1000 - 1).ok).toBe(true);
    expect(tokens.verify(token, NOW + TTL * 1000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a token whose payload was changed (another message id), even re-encoded', () => {
    const [version, payload, signature] = tokens.issue(MESSAGE, NOW).split('.') as [
      string,
      string,
      string,
    ];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const forged = Buffer.from(JSON.stringify({ ...claims, m: 'msg-2' })).toString('base64url');
    expect(tokens.verify(`${version}.${forged}.${signature}`, NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it.each([
    ['empty', ''],
    ['two parts', 'v1.abc'],
    ['another version', 'v2.abc.def'],
    ['not base64url', 'v1.a+b.def'],
    ['too long', `v1.${'a'.repeat(3000)}.def`],
  ])('refuses a malformed token (%s)', (_name, token) => {
    expect(tokens.verify(token, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a correctly signed payload that is not our claims', () => {
    // Signed with the real key through the same construction, so only the schema can refuse it.
    const forgedIssuer = new PushAckTokens(KEY, [], TTL);
    const token = forgedIssuer.issue({ ...MESSAGE, channel: 'sms' as 'webpush' }, NOW);
    expect(tokens.verify(token, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a truncated signature', () => {
    const token = tokens.issue(MESSAGE, NOW);
    expect(tokens.verify(token.slice(0, -4), NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });
});
