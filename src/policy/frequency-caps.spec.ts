import type { Channel } from '@omnigate/contracts';
import {
  applicableRules,
  capRuleProblems,
  decideOverCap,
  formatWindow,
  mostRestrictive,
  type CapReservation,
  type CapRule,
  type CapViolation,
  type ReserveResult,
} from './frequency-caps';

function rule(id: string, overrides: Partial<CapRule> = {}): CapRule {
  return { id, scope: {}, windowSeconds: 86400, limit: 3, overCap: 'next_channel', ...overrides };
}

const reservation: CapReservation = {
  customerId: 'cust-1',
  reservationId: 'res-1',
  ruleIds: ['marketing-sms-daily'],
  at: new Date('2025-03-01T09:00:00.000Z'),
};

function violation(r: CapRule, retryAt: string, count = r.limit): CapViolation {
  return { rule: r, count, retryAt: new Date(retryAt) };
}

describe('applicableRules', () => {
  const smsOnly = rule('sms-only', { scope: { channel: 'sms' } });
  const promoOnly = rule('promo-only', { scope: { category: 'promo' } });
  const smsPromo = rule('sms-promo', { scope: { channel: 'sms', category: 'promo' } });
  const everything = rule('everything');
  const rules = [smsOnly, promoOnly, smsPromo, everything];

  it.each<[Channel, string, string[]]>([
    ['sms', 'promo', ['sms-only', 'promo-only', 'sms-promo', 'everything']],
    ['sms', 'orders', ['sms-only', 'everything']],
    ['email', 'promo', ['promo-only', 'everything']],
    ['email', 'orders', ['everything']],
  ])('%s / %s → %j', (channel, category, ids) => {
    expect(applicableRules(rules, { channel, category }).map((r) => r.id)).toEqual(ids);
  });
});

describe('capRuleProblems', () => {
  it('accepts sound rules', () => {
    expect(capRuleProblems([rule('a'), rule('b', { limit: 1, windowSeconds: 1 })])).toEqual([]);
  });

  it('names every problem', () => {
    expect(
      capRuleProblems([
        rule('a', { limit: 0 }),
        rule('a', { windowSeconds: 0.5 }),
        rule('', { limit: 2.5 }),
      ]),
    ).toEqual([
      'rule a: limit must be a whole number ≥ 1, got 0',
      'rule id a is used twice',
      'rule a: windowSeconds must be a whole number ≥ 1, got 0.5',
      'a rule has an empty id',
      'a rule with an empty id: limit must be a whole number ≥ 1, got 2.5',
    ]);
  });
});

describe('formatWindow', () => {
  it.each([
    [86400, '24 h'],
    [3600, '1 h'],
    [7 * 86400, '7 d'],
    [5400, '90 min'],
    [45, '45 s'],
  ])('%i s → %s', (seconds, words) => {
    expect(formatWindow(seconds)).toBe(words);
  });
});

describe('mostRestrictive', () => {
  it('picks the rule whose window frees last', () => {
    const hourly = violation(rule('hourly', { overCap: 'cap' }), '2025-03-01T10:00:00Z');
    const daily = violation(rule('daily', { overCap: 'next_channel' }), '2025-03-02T09:00:00Z');
    expect(mostRestrictive([hourly, daily])).toBe(daily);
    expect(mostRestrictive([daily, hourly])).toBe(daily);
  });

  it('breaks a tie with the harsher action: cap, then defer, then next_channel', () => {
    const at = '2025-03-02T09:00:00Z';
    const next = violation(rule('next', { overCap: 'next_channel' }), at);
    const defer = violation(rule('defer', { overCap: 'defer' }), at);
    const cap = violation(rule('cap', { overCap: 'cap' }), at);
    expect(mostRestrictive([next, defer])).toBe(defer);
    expect(mostRestrictive([cap, defer, next])).toBe(cap);
    expect(mostRestrictive([next, cap])).toBe(cap);
  });

  it('returns undefined when nothing is violated', () => {
    expect(mostRestrictive([])).toBeUndefined();
  });
});

describe('decideOverCap', () => {
  const daily = rule('marketing-sms-daily', { overCap: 'defer' });
  const hourly = rule('marketing-sms-hourly', { windowSeconds: 3600, limit: 1, overCap: 'cap' });
  const refused: ReserveResult = {
    granted: false,
    violated: [
      violation(hourly, '2025-03-01T10:00:00.000Z'),
      violation(daily, '2025-03-02T09:00:00.000Z'),
    ],
  };

  it('proceeds silently when every rule had room', () => {
    expect(decideOverCap({ granted: true, reservation, violated: [] }, false)).toEqual({
      kind: 'proceed',
      reservation,
    });
  });

  it('lets the latest-freeing rule decide a refused send, in words', () => {
    expect(decideOverCap(refused, false)).toEqual({
      kind: 'blocked',
      action: 'defer',
      rule: daily,
      count: 3,
      retryAt: new Date('2025-03-02T09:00:00.000Z'),
      reason:
        'capped by rule marketing-sms-daily: 3 in 24 h, frees at 2025-03-02T09:00:00.000Z ' +
        '(deferred until then)',
    });
  });

  it.each([
    ['next_channel', 'trying the next channel'],
    ['cap', 'not sent'],
  ] as const)('words the %s action', (overCap, words) => {
    const only = rule('only', { overCap, windowSeconds: 3600, limit: 1 });
    const decision = decideOverCap(
      { granted: false, violated: [violation(only, '2025-03-01T10:00:00.000Z')] },
      false,
    );
    expect(decision).toMatchObject({ kind: 'blocked', action: overCap });
    expect(decision.kind === 'blocked' && decision.reason).toBe(
      `capped by rule only: 1 in 1 h, frees at 2025-03-01T10:00:00.000Z (${words})`,
    );
  });

  it('never blocks a transactional send that was forced past full rules, but says so', () => {
    const forced: ReserveResult = { granted: true, reservation, violated: refused.violated };
    expect(decideOverCap(forced, true)).toEqual({
      kind: 'proceed',
      reservation,
      note:
        'over rule marketing-sms-daily: 3 in 24 h, frees at 2025-03-02T09:00:00.000Z; ' +
        'sent anyway (transactional), and counted',
    });
  });

  it('treats a refused transactional send as a caller bug: it must be reserved with force', () => {
    expect(() => decideOverCap(refused, true)).toThrow('reserve it with force');
  });

  it('treats a refusal that names no rule as a store bug', () => {
    expect(() => decideOverCap({ granted: false, violated: [] }, false)).toThrow(
      'without naming a violated rule',
    );
  });
});
