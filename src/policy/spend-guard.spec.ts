import {
  decideSpend,
  DEFAULT_REFUSED_KINDS,
  destinationFacts,
  spendLimits,
  type DestinationFacts,
  type NumberKind,
  type SpendChannel,
  type SpendGuardConfig,
  type SpendLimit,
  type SpendLimitId,
} from './spend-guard';

const NOW = new Date('2026-06-15T12:00:00.000Z');

const CONFIG: SpendGuardConfig = {
  keyPrefix: '',
  refusedKinds: DEFAULT_REFUSED_KINDS,
  countries: { sms: ['US', 'GB'], whatsapp: undefined },
  numberPerMinute: 5,
  numberPerHour: 20,
  countryPerHour: 1000,
  dailyBudget: { sms: 100, whatsapp: 0 },
};

describe('destinationFacts', () => {
  it.each<[string, string, NumberKind, string | undefined]>([
    ['a US number', '+14155550100', 'FIXED_LINE_OR_MOBILE', 'US'],
    ['a German mobile', '+4915112345678', 'MOBILE', 'DE'],
    ['a UK 09xx premium-rate number', '+449098790123', 'PREMIUM_RATE', 'GB'],
    ['a US 900 premium-rate number', '+19005550123', 'PREMIUM_RATE', 'US'],
    ['a US toll-free number', '+18005550123', 'TOLL_FREE', 'US'],
    [
      'an international network (+882), unknown to the metadata',
      '+882130123456',
      'INTERNATIONAL_NETWORK',
      undefined,
    ],
    [
      'an international network (+883), typed VoIP by the metadata',
      '+883510012345',
      'INTERNATIONAL_NETWORK',
      undefined,
    ],
    [
      'a satellite number (+881), typed mobile by the metadata',
      '+881612345678',
      'SATELLITE',
      undefined,
    ],
    ['a WhatsApp address', 'whatsapp:+4915112345678', 'MOBILE', 'DE'],
    ['a UK number in no allocated range', '+441632960000', 'INVALID', undefined],
    ['text that is no number', 'call me', 'INVALID', undefined],
  ])('%s', (_name, address, kind, country) => {
    const facts = destinationFacts(address);
    expect(facts.kind).toBe(kind);
    expect(facts.country).toBe(country);
  });
});

const US: DestinationFacts = { kind: 'MOBILE', country: 'US', e164: '+14155550100' };

function limit(id: SpendLimitId, overrides: Partial<SpendLimit> = {}): SpendLimit {
  return { id, subject: 'x', limit: 5, windowSeconds: 60, enforced: true, ...overrides };
}

interface Case {
  readonly name: string;
  readonly channel?: SpendChannel;
  readonly facts: DestinationFacts;
  readonly config?: Partial<SpendGuardConfig>;
  readonly full?: readonly SpendLimit[];
  readonly expected: string;
  /** Words the reason must hold. */
  readonly words?: string;
}

const CASES: readonly Case[] = [
  { name: 'an allowed mobile with room everywhere', facts: US, expected: 'allow' },
  {
    name: 'a premium-rate number, naming type and country',
    facts: { kind: 'PREMIUM_RATE', country: 'GB', e164: '+449098790123' },
    expected: 'SPEND_PREMIUM_RATE',
    words: 'the spend guard refused sms: the destination is a premium-rate number (GB)',
  },
  {
    name: 'a shared-cost number',
    facts: { kind: 'SHARED_COST', country: 'GB', e164: '+448431234567' },
    expected: 'SPEND_SHARED_COST',
  },
  {
    name: 'an international network, before the allowlist',
    facts: { kind: 'INTERNATIONAL_NETWORK', country: undefined, e164: '+882130123456' },
    expected: 'SPEND_INTERNATIONAL_NETWORK',
    words: 'an international-network number (no country)',
  },
  {
    name: 'a satellite number',
    facts: { kind: 'SATELLITE', country: undefined, e164: '+881612345678' },
    expected: 'SPEND_SATELLITE',
  },
  {
    name: 'an invalid number',
    facts: { kind: 'INVALID', country: undefined, e164: undefined },
    expected: 'SPEND_INVALID_NUMBER',
  },
  {
    name: 'a premium-rate number when the type is no longer refused (allowlist still applies)',
    facts: { kind: 'PREMIUM_RATE', country: 'US', e164: '+19005550123' },
    config: { refusedKinds: [] },
    expected: 'allow',
  },
  {
    name: 'a configured extra type, in words of its own',
    facts: { kind: 'TOLL_FREE', country: 'US', e164: '+18005550123' },
    config: { refusedKinds: ['TOLL_FREE'] },
    expected: 'SPEND_NUMBER_TYPE',
    words: 'a toll-free number (US)',
  },
  {
    name: 'a country outside the allowlist',
    facts: { kind: 'MOBILE', country: 'FR', e164: '+33612345678' },
    expected: 'SPEND_COUNTRY_NOT_ALLOWED',
    words: 'the destination country (FR) is not in the sms allowlist (US, GB)',
  },
  {
    name: 'a non-geographic number against an allowlist when its range is allowed',
    facts: { kind: 'INTERNATIONAL_NETWORK', country: undefined, e164: '+882130123456' },
    config: { refusedKinds: [] },
    expected: 'SPEND_COUNTRY_NOT_ALLOWED',
  },
  {
    name: 'any country on a channel without an allowlist',
    channel: 'whatsapp',
    facts: { kind: 'MOBILE', country: 'FR', e164: '+33612345678' },
    expected: 'allow',
  },
  {
    name: 'a number at its per-minute limit',
    facts: US,
    full: [limit('number_minute')],
    expected: 'SPEND_VELOCITY_NUMBER',
    words: 'reached its limit of 5 sms sends per minute',
  },
  {
    name: 'a number at its hourly limit, before its country',
    facts: US,
    full: [limit('country_hour'), limit('number_hour', { limit: 20 })],
    expected: 'SPEND_VELOCITY_NUMBER',
    words: '20 sms sends per hour',
  },
  {
    name: 'a country at its hourly limit',
    facts: US,
    full: [limit('country_hour', { limit: 1000 })],
    expected: 'SPEND_VELOCITY_COUNTRY',
    words: 'destination country US reached its limit of 1000 sms sends per hour',
  },
  {
    name: 'the daily budget used up, for a marketing send',
    facts: US,
    full: [limit('daily_budget', { limit: 100 })],
    expected: 'SPEND_DAILY_BUDGET',
    words: 'the daily sms budget of 100 sends is used up',
  },
  {
    name: 'the daily budget used up, for a transactional send (counted, not enforced)',
    facts: US,
    full: [limit('daily_budget', { limit: 100, enforced: false })],
    expected: 'allow',
  },
  {
    name: 'velocity still refusing a transactional send',
    facts: US,
    full: [limit('number_minute'), limit('daily_budget', { enforced: false })],
    expected: 'SPEND_VELOCITY_NUMBER',
  },
];

describe('decideSpend', () => {
  it.each(CASES)('$name', (c) => {
    const decision = decideSpend({
      channel: c.channel ?? 'sms',
      facts: c.facts,
      config: { ...CONFIG, ...c.config },
      full: c.full ?? [],
    });
    expect(decision.kind === 'allow' ? 'allow' : decision.reasonCode).toBe(c.expected);
    if (c.words !== undefined && decision.kind === 'refuse') {
      expect(decision.reason).toContain(c.words);
    }
    // A reason may name the country and the number type, never the number.
    if (decision.kind === 'refuse' && c.facts.e164 !== undefined) {
      expect(decision.reason).not.toContain(c.facts.e164.slice(1));
    }
  });

  it('notes a transactional send that passed a used-up budget', () => {
    const decision = decideSpend({
      channel: 'sms',
      facts: US,
      config: CONFIG,
      full: [limit('daily_budget', { limit: 100, enforced: false })],
    });
    expect(decision).toEqual({
      kind: 'allow',
      note: 'spend guard: the daily sms budget of 100 sends is used up; transactional, so sent anyway',
    });
  });
});

describe('spendLimits', () => {
  it('counts a send per number (minute, hour), per country and in the UTC day budget', () => {
    const limits = spendLimits({
      channel: 'sms',
      facts: US,
      transactional: false,
      config: CONFIG,
      now: NOW,
    });
    expect(limits).toEqual([
      { id: 'number_minute', subject: '+14155550100', limit: 5, windowSeconds: 60, enforced: true },
      {
        id: 'number_hour',
        subject: '+14155550100',
        limit: 20,
        windowSeconds: 3600,
        enforced: true,
      },
      { id: 'country_hour', subject: 'US', limit: 1000, windowSeconds: 3600, enforced: true },
      {
        id: 'daily_budget',
        subject: '2026-06-15',
        limit: 100,
        windowSeconds: 86400,
        enforced: true,
      },
    ]);
  });

  it('counts a transactional send in the budget without letting the budget refuse it', () => {
    const limits = spendLimits({
      channel: 'sms',
      facts: US,
      transactional: true,
      config: CONFIG,
      now: NOW,
    });
    expect(limits.map((l) => [l.id, l.enforced])).toEqual([
      ['number_minute', true],
      ['number_hour', true],
      ['country_hour', true],
      ['daily_budget', false],
    ]);
  });

  it('leaves out limits set to 0 and the budget of a channel without one', () => {
    const config = { ...CONFIG, numberPerMinute: 0, countryPerHour: 0 };
    const limits = spendLimits({
      channel: 'whatsapp',
      facts: US,
      transactional: false,
      config,
      now: NOW,
    });
    expect(limits.map((l) => l.id)).toEqual(['number_hour']);
  });
});
