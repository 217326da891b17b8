import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Channel } from '@omnigate/contracts';
import { decideOverCap, type CapRule } from '../policy/frequency-caps';
import {
  capKey,
  InvalidCapRequestError,
  type CapStore,
  type ReserveRequest,
  type ReserveResult,
} from './cap-store';
import { MemoryCapStore } from './memory-cap-store';
import { connectRedis, RedisCapStore } from './redis-cap-store';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2025-03-01T09:00:00.000Z');

/** A store under test plus how to clean up after it. */
interface Harness {
  readonly name: string;
  open(): Promise<CapStore>;
  cleanup(): Promise<void>;
}

/** Fails fast with the socket's reason: these tests fail, never skip, without Redis. */
async function connect(): Promise<Redis> {
  try {
    return await connectRedis(REDIS_URL, { connectTimeout: 2000, retryStrategy: () => null });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason} (the cap store tests need Redis: start it or set REDIS_URL)`, {
      cause: error,
    });
  }
}

const memoryHarness: Harness = {
  name: 'MemoryCapStore',
  open: () => Promise.resolve(new MemoryCapStore()),
  cleanup: () => Promise.resolve(),
};

function redisHarness(): Harness {
  const keyPrefix = `test:caps:${randomUUID()}:`;
  return {
    name: 'RedisCapStore',
    open: async () => new RedisCapStore(await connect(), { keyPrefix }),
    cleanup: async () => {
      const client = await connect();
      try {
        const keys = await client.keys(`${keyPrefix}*`);
        if (keys.length > 0) await client.del(...keys);
      } finally {
        client.disconnect();
      }
    },
  };
}

function rule(id: string, overrides: Partial<CapRule> = {}): CapRule {
  return {
    id,
    scope: {},
    windowSeconds: 24 * 3600,
    limit: 3,
    overCap: 'next_channel',
    ...overrides,
  };
}

function granted(result: ReserveResult): boolean {
  return result.granted;
}

describe.each([memoryHarness, redisHarness()])('CapStore contract: $name', (harness) => {
  let store: CapStore;
  let customerId: string;

  beforeAll(async () => {
    store = await harness.open();
  });
  afterAll(async () => {
    await store?.close();
    await harness.cleanup();
  });
  beforeEach(() => {
    customerId = `cust-${randomUUID()}`;
  });

  /** Reserves with defaults: sms, marketing, not forced, at T0 + offset. */
  function reserve(
    rules: readonly CapRule[],
    offsetMs: number,
    overrides: Partial<ReserveRequest> = {},
  ): Promise<ReserveResult> {
    return store.reserve({
      customerId,
      channel: 'sms',
      category: 'marketing',
      rules,
      now: new Date(T0 + offsetMs),
      reservationId: randomUUID(),
      force: false,
      ...overrides,
    });
  }

  it('refuses once the limit is reached, freeing when the oldest entry leaves the window', async () => {
    const daily = rule('marketing-sms-daily');
    for (const offset of [0, HOUR, 2 * HOUR]) {
      expect(granted(await reserve([daily], offset))).toBe(true);
    }
    const refused = await reserve([daily], 3 * HOUR);
    expect(refused).toEqual({
      granted: false,
      violated: [{ rule: daily, count: 3, retryAt: new Date(T0 + 24 * HOUR) }],
    });
  });

  it('peek reports the full rules and counts nothing, however often it is asked', async () => {
    const daily = rule('daily', { limit: 2 });
    const hourly = rule('hourly', { limit: 5, windowSeconds: 3600 });
    const peek = (offsetMs: number) =>
      store.peek({
        customerId,
        channel: 'sms',
        category: 'marketing',
        rules: [daily, hourly],
        now: new Date(T0 + offsetMs),
      });
    await reserve([daily, hourly], 0);
    for (let i = 0; i < 5; i++) expect(await peek(MINUTE)).toEqual([]);
    expect(granted(await reserve([daily, hourly], 2 * MINUTE))).toBe(true);
    expect(await peek(3 * MINUTE)).toEqual([
      { rule: daily, count: 2, retryAt: new Date(T0 + 24 * HOUR) },
    ]);
    // Still two counted: the peeks took no slot, so a third reserve is refused, not a sixth.
    const third = await reserve([daily, hourly], 4 * MINUTE);
    expect(third.violated).toEqual([{ rule: daily, count: 2, retryAt: new Date(T0 + 24 * HOUR) }]);
  });

  it('slides: a slot frees exactly when an entry is one window old, and only then', async () => {
    const daily = rule('daily');
    for (const offset of [0, HOUR, 2 * HOUR]) await reserve([daily], offset);
    expect(granted(await reserve([daily], 24 * HOUR - 1))).toBe(false);
    expect(granted(await reserve([daily], 24 * HOUR))).toBe(true);
    const next = await reserve([daily], 24 * HOUR + 1);
    expect(next.granted).toBe(false);
    expect(next.violated[0]?.retryAt).toEqual(new Date(T0 + 25 * HOUR));
  });

  it('reports every full rule with its own retryAt; the latest one decides', async () => {
    const hourly = rule('sms-hourly', { windowSeconds: 3600, limit: 2, overCap: 'next_channel' });
    const daily = rule('sms-daily', { limit: 3, overCap: 'defer' });
    const rules = [hourly, daily];
    expect(granted(await reserve(rules, 0))).toBe(true);
    expect(granted(await reserve(rules, 10 * MINUTE))).toBe(true);
    // Only the hourly rule is full.
    expect(await reserve(rules, 20 * MINUTE)).toEqual({
      granted: false,
      violated: [{ rule: hourly, count: 2, retryAt: new Date(T0 + HOUR) }],
    });
    expect(granted(await reserve(rules, HOUR))).toBe(true);
    const both = await reserve(rules, HOUR + 5 * MINUTE);
    expect(both).toEqual({
      granted: false,
      violated: [
        { rule: hourly, count: 2, retryAt: new Date(T0 + HOUR + 10 * MINUTE) },
        { rule: daily, count: 3, retryAt: new Date(T0 + 24 * HOUR) },
      ],
    });
    expect(decideOverCap(both, false)).toMatchObject({
      kind: 'blocked',
      action: 'defer',
      rule: daily,
      retryAt: new Date(T0 + 24 * HOUR),
    });
  });

  describe('scope matching', () => {
    const smsOnly = rule('sms-only', { scope: { channel: 'sms' }, limit: 1 });
    const promoOnly = rule('promo-only', { scope: { category: 'promo' }, limit: 2 });
    const smsPromo = rule('sms-promo', { scope: { channel: 'sms', category: 'promo' }, limit: 1 });
    const everything = rule('everything', { limit: 10 });
    const rules = [smsOnly, promoOnly, smsPromo, everything];

    it.each<[Channel, string, string[]]>([
      ['sms', 'promo', ['sms-only', 'promo-only', 'sms-promo', 'everything']],
      ['email', 'promo', ['promo-only', 'everything']],
      ['sms', 'orders', ['sms-only', 'everything']],
      ['email', 'orders', ['everything']],
    ])('%s / %s is counted in %j', async (channel, category, expected) => {
      const result = await reserve(rules, 0, { channel, category });
      expect(result.granted && result.reservation.ruleIds).toEqual(expected);
    });

    it('counts a send only in the rules that apply to it', async () => {
      expect(granted(await reserve(rules, 0, { channel: 'email', category: 'promo' }))).toBe(true);
      // sms-only and sms-promo are still empty; promo-only has one of its two slots left.
      expect(granted(await reserve(rules, 1, { channel: 'sms', category: 'promo' }))).toBe(true);
      const refused = await reserve(rules, 2, { channel: 'sms', category: 'orders' });
      expect(refused.granted).toBe(false);
      expect(refused.violated.map((v) => v.rule.id)).toEqual(['sms-only']);
      expect(granted(await reserve(rules, 3, { channel: 'webpush', category: 'orders' }))).toBe(
        true,
      );
    });

    it('grants without counting anything when no rule applies', async () => {
      const result = await reserve([smsOnly], 0, { channel: 'email' });
      expect(result).toMatchObject({ granted: true, violated: [] });
      expect(result.granted && result.reservation.ruleIds).toEqual([]);
    });
  });

  it('force counts and grants past a full rule, still reporting it', async () => {
    const once = rule('once', { limit: 1 });
    expect(granted(await reserve([once], 0))).toBe(true);
    const forced = await reserve([once], HOUR, { force: true });
    expect(forced).toMatchObject({
      granted: true,
      violated: [{ rule: once, count: 1, retryAt: new Date(T0 + 24 * HOUR) }],
    });
    // Two entries now against a limit of one: room returns only when the forced one leaves too.
    expect(await reserve([once], 2 * HOUR)).toEqual({
      granted: false,
      violated: [{ rule: once, count: 2, retryAt: new Date(T0 + 25 * HOUR) }],
    });
  });

  it('release frees the slot in every rule; unknown ids are ignored', async () => {
    const a = rule('a', { limit: 1 });
    const b = rule('b', { limit: 1, scope: { channel: 'sms' } });
    const first = await reserve([a, b], 0);
    if (!first.granted) throw new Error('first reservation refused');
    expect(granted(await reserve([a, b], 1))).toBe(false);
    await store.release({ customerId, reservationId: 'never-reserved', ruleIds: ['a', 'b'] });
    expect(granted(await reserve([a, b], 2))).toBe(false);
    await store.release(first.reservation);
    expect(granted(await reserve([a, b], 3))).toBe(true);
  });

  it('is atomic: a reservation refused by one rule leaves no trace in the others', async () => {
    const roomy = rule('roomy', { limit: 2 });
    const tight = rule('tight', { limit: 1 });
    const first = await reserve([roomy, tight], 0);
    if (!first.granted) throw new Error('first reservation refused');
    // Refused by tight; had it been counted in roomy, roomy would now be full too.
    expect((await reserve([roomy, tight], 1)).violated.map((v) => v.rule.id)).toEqual(['tight']);
    expect((await reserve([roomy, tight], 2)).violated.map((v) => v.rule.id)).toEqual(['tight']);
    await store.release(first.reservation);
    expect(granted(await reserve([roomy, tight], 3))).toBe(true);
    const after = await reserve([roomy, tight], 4);
    expect(after).toEqual({
      granted: false,
      violated: [{ rule: tight, count: 1, retryAt: new Date(T0 + 3 + 24 * HOUR) }],
    });
  });

  it('counts a retried reservation id once and keeps its first time', async () => {
    const two = rule('two', { limit: 2 });
    const reservationId = randomUUID();
    expect(granted(await reserve([two], 0, { reservationId }))).toBe(true);
    expect(granted(await reserve([two], HOUR, { reservationId }))).toBe(true);
    expect(granted(await reserve([two], 2 * HOUR))).toBe(true);
    expect((await reserve([two], 3 * HOUR)).violated).toEqual([
      { rule: two, count: 2, retryAt: new Date(T0 + 24 * HOUR) },
    ]);
  });

  it('keeps customers apart', async () => {
    const once = rule('once', { limit: 1 });
    expect(granted(await reserve([once], 0))).toBe(true);
    expect(granted(await reserve([once], 1))).toBe(false);
    expect(granted(await reserve([once], 2, { customerId: `${customerId}-other` }))).toBe(true);
  });

  it.each<[string, Partial<ReserveRequest>, string]>([
    ['an empty customer id', { customerId: '' }, 'customerId is empty'],
    ['an empty reservation id', { reservationId: '' }, 'reservationId is empty'],
    ['an invalid date', { now: new Date(Number.NaN) }, 'now is not a valid date'],
    ['a limit of 0', { rules: [rule('zero', { limit: 0 })] }, 'rule zero: limit'],
    ['a fractional window', { rules: [rule('w', { windowSeconds: 1.5 })] }, 'rule w: window'],
    ['a duplicate rule id', { rules: [rule('x'), rule('x')] }, 'rule id x is used twice'],
  ])('rejects %s', async (_name, overrides, words) => {
    const attempt = reserve([rule('fine')], 0, overrides);
    await expect(attempt).rejects.toBeInstanceOf(InvalidCapRequestError);
    await expect(attempt).rejects.toThrow(words);
  });
});

describe('capKey', () => {
  it('puts the customer in a hash tag', () => {
    expect(capKey('cust-42', 'marketing-sms-daily')).toBe('cap:{cust-42}:marketing-sms-daily');
  });

  it('encodes braces and colons so ids cannot break the tag or collide', () => {
    expect(capKey('a}:b', 'c')).toBe('cap:{a%7D%3Ab}:c');
    expect(capKey('a', 'b}:c')).not.toBe(capKey('a}:b', 'c'));
  });
});
