import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { SpendLimit } from '../policy/spend-guard';
import { MemorySpendCounters } from './memory-spend-counters';
import { connectRedis } from './redis-cap-store';
import { RedisSpendCounters } from './redis-spend-counters';
import { spendKey, type SpendCounters, type SpendReserveRequest } from './spend-counters';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MINUTE = 60_000;
const T0 = Date.parse('2026-06-15T12:00:00.000Z');

/** A store under test plus how to clean up after it. */
interface Harness {
  readonly name: string;
  open(): Promise<SpendCounters>;
  cleanup(): Promise<void>;
}

/** Fails fast with the socket's reason: these tests fail, never skip, without Redis. */
function connect(): Promise<Redis> {
  return connectRedis(REDIS_URL, { connectTimeout: 2000, retryStrategy: () => null });
}

const memoryHarness: Harness = {
  name: 'MemorySpendCounters',
  open: () => Promise.resolve(new MemorySpendCounters()),
  cleanup: () => Promise.resolve(),
};

function redisHarness(): Harness {
  const keyPrefix = `test:spend:${randomUUID()}:`;
  return {
    name: 'RedisSpendCounters',
    open: async () => new RedisSpendCounters(await connect(), keyPrefix),
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

describe.each([memoryHarness, redisHarness()])('SpendCounters contract: $name', (harness) => {
  let store: SpendCounters;
  let number: string;

  beforeAll(async () => {
    store = await harness.open();
  });
  afterAll(async () => {
    await store?.close();
    await harness.cleanup();
  });
  beforeEach(() => {
    // A fresh subject per test: the stores are shared across the tests of one harness.
    number = `+1415555${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}-${randomUUID()}`;
  });

  function perMinute(limit: number, overrides: Partial<SpendLimit> = {}): SpendLimit {
    return {
      id: 'number_minute',
      subject: number,
      limit,
      windowSeconds: 60,
      enforced: true,
      ...overrides,
    };
  }

  function budget(limit: number, enforced: boolean): SpendLimit {
    return { id: 'daily_budget', subject: `day-${number}`, limit, windowSeconds: 86400, enforced };
  }

  function reserve(
    limits: readonly SpendLimit[],
    offsetMs: number,
    overrides: Partial<SpendReserveRequest> = {},
  ) {
    return store.reserve({
      channel: 'sms',
      limits,
      now: new Date(T0 + offsetMs),
      reservationId: randomUUID(),
      ...overrides,
    });
  }

  it('grants up to the limit, then refuses naming the full limit, until the window moves on', async () => {
    const limit = perMinute(2);
    expect((await reserve([limit], 0)).granted).toBe(true);
    expect((await reserve([limit], 1000)).granted).toBe(true);
    expect(await reserve([limit], 2000)).toEqual({ granted: false, full: [limit] });
    // The first send leaves the window one minute after it was counted.
    expect((await reserve([limit], MINUTE + 1)).granted).toBe(true);
  });

  it('is atomic: a refusal by one limit counts nothing in the others', async () => {
    const roomy = perMinute(5);
    const tight: SpendLimit = { ...perMinute(1), id: 'country_hour', subject: `XX-${number}` };
    expect((await reserve([roomy, tight], 0)).granted).toBe(true);
    for (let i = 1; i <= 4; i += 1) expect((await reserve([roomy, tight], i)).granted).toBe(false);
    // Had the refused ones counted in roomy, it would now be full.
    expect(await store.peek({ channel: 'sms', limits: [roomy], now: new Date(T0 + 5) })).toEqual(
      [],
    );
  });

  it('counts a send past a full limit that does not refuse (the budget for transactional)', async () => {
    const soft = budget(1, false);
    expect((await reserve([soft], 0)).granted).toBe(true);
    const past = await reserve([soft], 1);
    expect(past.granted).toBe(true);
    expect(past.full).toEqual([soft]);
    expect(await store.budgetUsed('sms', soft.subject)).toBe(2);
    // An enforced reserve now finds it full.
    expect((await reserve([budget(1, true)], 2)).granted).toBe(false);
  });

  it('counts a retried reservation id once', async () => {
    const limit = perMinute(2);
    const reservationId = randomUUID();
    expect((await reserve([limit], 0, { reservationId })).granted).toBe(true);
    expect((await reserve([limit], 1, { reservationId })).granted).toBe(true);
    expect((await reserve([limit], 2)).granted).toBe(true);
    expect((await reserve([limit], 3)).granted).toBe(false);
  });

  it('release gives the slot back; unknown ids are ignored', async () => {
    const limit = perMinute(1);
    const first = await reserve([limit], 0);
    if (!first.granted) throw new Error('first reservation refused');
    await store.release({ channel: 'sms', reservationId: 'never-reserved', limits: [limit] });
    expect((await reserve([limit], 1)).granted).toBe(false);
    await store.release(first.reservation);
    expect((await reserve([limit], 2)).granted).toBe(true);
  });

  it('peek reports full limits and counts nothing', async () => {
    const limit = perMinute(1);
    const limits = [limit];
    expect(await store.peek({ channel: 'sms', limits, now: new Date(T0) })).toEqual([]);
    expect((await reserve(limits, 0)).granted).toBe(true);
    expect(await store.peek({ channel: 'sms', limits, now: new Date(T0 + 1) })).toEqual([limit]);
    expect(await store.peek({ channel: 'sms', limits, now: new Date(T0 + 2) })).toEqual([limit]);
  });

  it('keeps channels apart', async () => {
    const limit = perMinute(1);
    expect((await reserve([limit], 0)).granted).toBe(true);
    expect((await reserve([limit], 1, { channel: 'whatsapp' })).granted).toBe(true);
  });

  it('rejects a limit of 0', async () => {
    await expect(reserve([perMinute(0)], 0)).rejects.toThrow('limit number_minute');
  });
});

describe('spendKey', () => {
  it('puts the channel in the hash tag and never stores the number itself', () => {
    const key = spendKey('sms', { id: 'number_minute', subject: '+14155550100' });
    expect(key).toMatch(/^spend:\{sms\}:number_minute:[0-9a-f]{32}$/);
    expect(key).not.toContain('4155550100');
    expect(spendKey('whatsapp', { id: 'country_hour', subject: 'GB' })).toBe(
      'spend:{whatsapp}:country_hour:GB',
    );
  });
});
