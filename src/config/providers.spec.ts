import { DEFAULT_MAX_IN_FLIGHT, loadProviderSettings, parseRateLimit } from './providers';

const NONE = { sms: [], email: [], whatsapp: [], webpush: [], mobilepush: [] };

describe('PROVIDER_<ID>_RATE_LIMIT', () => {
  it.each([
    ['5/s', { limit: 5, windowMs: 1000 }],
    ['80/s', { limit: 80, windowMs: 1000 }],
    [' 600 / min ', { limit: 600, windowMs: 60_000 }],
    ['1000/h', { limit: 1000, windowMs: 3_600_000 }],
  ])('reads %j', (raw, rate) => {
    expect(parseRateLimit(raw)).toEqual({ rate });
  });

  it.each([undefined, '', '  '])('is no limit when %j', (raw) => {
    expect(parseRateLimit(raw)).toEqual({ rate: undefined });
  });

  /** The problem text, or a failure when the value was accepted. */
  function problemOf(raw: string): string {
    const result = parseRateLimit(raw);
    if (!('problem' in result)) throw new Error(`accepted "${raw}"`);
    return result.problem;
  }

  it.each(['fast', '5', '5/sec', '0/s', '-1/s', '1.5/s', '5/ms', '5/m'])('refuses %j', (raw) => {
    expect(problemOf(raw)).toContain(`got "${raw}"`);
  });

  it('refuses a window too large to keep exactly, and suggests a shorter one', () => {
    expect(problemOf('600000/min')).toContain('10000/s');
  });

  it('is carried on the provider settings, per provider', () => {
    const result = loadProviderSettings(
      {
        PROVIDER_TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
        PROVIDER_TWILIO_AUTH_TOKEN: 'secret',
        PROVIDER_TWILIO_FROM: '+14155550100',
        PROVIDER_TWILIO_RATE_LIMIT: '5/s',
      },
      { ...NONE, sms: ['twilio', 'log'] },
    );
    if (!result.ok) throw new Error(result.problems.join('; '));
    const byId = Object.fromEntries(result.providers.map((p) => [p.id, p.rateLimit]));
    expect(byId).toEqual({ twilio: { limit: 5, windowMs: 1000 }, log: undefined });
  });

  it('fails with the variable named, beside the other problems of the same provider', () => {
    const result = loadProviderSettings(
      { PROVIDER_TWILIO_RATE_LIMIT: 'lots', PROVIDER_LOG_RATE_LIMIT: '5/ms' },
      { ...NONE, sms: ['twilio', 'log'] },
    );
    if (result.ok) throw new Error('accepted a bad rate limit');
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^PROVIDER_TWILIO_RATE_LIMIT: must be .*got "lots" \(provider "twilio"/,
        ),
        expect.stringMatching(/^PROVIDER_TWILIO_ACCOUNT_SID: /),
        expect.stringMatching(/^PROVIDER_LOG_RATE_LIMIT: must be .*got "5\/ms"/),
      ]),
    );
  });
});

describe('PROVIDER_<ID>_MAX_IN_FLIGHT', () => {
  const twilio = {
    PROVIDER_TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
    PROVIDER_TWILIO_AUTH_TOKEN: 'secret',
    PROVIDER_TWILIO_FROM: '+14155550100',
  };

  it('is the default of 256 when unset, and read per provider when set', () => {
    const result = loadProviderSettings(
      { ...twilio, PROVIDER_TWILIO_MAX_IN_FLIGHT: '32' },
      { ...NONE, sms: ['twilio', 'log'] },
    );
    if (!result.ok) throw new Error(result.problems.join('; '));
    const byId = Object.fromEntries(result.providers.map((p) => [p.id, p.maxInFlight]));
    expect(DEFAULT_MAX_IN_FLIGHT).toBe(256);
    expect(byId).toEqual({ twilio: 32, log: 256 });
  });

  it.each(['0', '-1', '2.5', 'many', '4097'])('refuses %j, naming the variable', (raw) => {
    const result = loadProviderSettings(
      { ...twilio, PROVIDER_TWILIO_MAX_IN_FLIGHT: raw },
      { ...NONE, sms: ['twilio'] },
    );
    if (result.ok) throw new Error(`accepted "${raw}"`);
    expect(result.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^PROVIDER_TWILIO_MAX_IN_FLIGHT: must be a whole number between 1 and 4096, got "${raw}"`,
        ),
      ),
    ]);
  });
});

describe('PROVIDER_<ID>_ALLOWED_ADDRESSES (web push)', () => {
  const VAPID = {
    PROVIDER_WEBPUSH_VAPID_SUBJECT: 'mailto:ops@omnigate.example',
    PROVIDER_WEBPUSH_VAPID_PUBLIC_KEY: 'public',
    PROVIDER_WEBPUSH_VAPID_PRIVATE_KEY: 'private',
  };
  const load = (env: Record<string, string>) =>
    loadProviderSettings({ ...VAPID, ...env }, { ...NONE, webpush: ['webpush'] });

  it('is none when unset, so every non-public address is refused', () => {
    const result = load({});
    expect(result.ok && result.providers[0]).toMatchObject({ allowedAddresses: undefined });
  });

  it('reads a comma-separated list of ranges and single addresses', () => {
    const result = load({ PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: ' 127.0.0.1/32, ::1 ,' });
    expect(result.ok && result.providers[0]).toMatchObject({
      allowedAddresses: ['127.0.0.1/32', '::1'],
    });
  });

  it('fails naming the variable and every bad entry', () => {
    const result = load({ PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: 'localhost,10.0.0.0/33' });
    expect(!result.ok && result.problems).toEqual([
      'PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: "localhost" is not an IP address or CIDR range; give CIDR ranges like 127.0.0.1/32 (provider "webpush")',
      'PROVIDER_WEBPUSH_ALLOWED_ADDRESSES: "10.0.0.0/33" has a prefix length outside 0-32; give CIDR ranges like 127.0.0.1/32 (provider "webpush")',
    ]);
  });
});
