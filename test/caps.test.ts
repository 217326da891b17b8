import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Channel } from '@omnigate/contracts';
import type { CapRule } from '../src/policy/frequency-caps';
import type { ReserveResult } from '../src/repositories/cap-store';
import { connectRedis, RedisCapStore } from '../src/repositories/redis-cap-store';

/**
 * Several gateway replicas share one Redis: each has its own connection, and they race on the same
 * customer. The script's atomicity is what keeps the cap exact; these tests would catch a
 * read-then-write split into separate round trips.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPLICAS = 8;
const ATTEMPTS = 200;

async function connect(): Promise<Redis> {
  try {
    return await connectRedis(REDIS_URL, { connectTimeout: 2000, retryStrategy: () => null });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason} (the cap integration tests need Redis: start it or set REDIS_URL)`, {
      cause: error,
    });
  }
}

function rule(id: string, overrides: Partial<CapRule> = {}): CapRule {
  return { id, scope: {}, windowSeconds: 86400, limit: 10, overCap: 'next_channel', ...overrides };
}

describe('frequency caps across replicas (real Redis)', () => {
  const keyPrefix = `test:caps-race:${randomUUID()}:`;
  let admin: Redis;
  let replicas: RedisCapStore[] = [];

  beforeAll(async () => {
    admin = await connect();
    replicas = await Promise.all(
      Array.from(
        { length: REPLICAS },
        async () => new RedisCapStore(await connect(), { keyPrefix }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    if (admin) {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    }
  });

  /** Spreads calls round-robin, as a load balancer would. */
  function replica(index: number): RedisCapStore {
    const store = replicas[index % replicas.length];
    if (store === undefined) throw new Error('no replicas connected');
    return store;
  }

  /** Fires every attempt at once, spread round-robin over the replicas. */
  function race(
    customerId: string,
    rules: readonly CapRule[],
    attempt: (index: number) => { channel: Channel; force?: boolean },
  ): Promise<Array<{ id: string; result: ReserveResult }>> {
    const now = new Date();
    return Promise.all(
      Array.from({ length: ATTEMPTS }, async (_, index) => {
        const id = `res-${index}`;
        const { channel, force = false } = attempt(index);
        const result = await replica(index).reserve({
          customerId,
          channel,
          category: 'marketing',
          rules,
          now,
          reservationId: id,
          force,
        });
        return { id, result };
      }),
    );
  }

  function members(customerId: string, ruleId: string): Promise<string[]> {
    return admin.zrange(`${keyPrefix}cap:{${customerId}}:${ruleId}`, 0, -1);
  }

  it(`grants exactly 10 of ${ATTEMPTS} concurrent reservations for one customer`, async () => {
    const customerId = `cust-${randomUUID()}`;
    const outcomes = await race(customerId, [rule('daily')], () => ({ channel: 'sms' }));
    const granted = outcomes.filter(({ result }) => result.granted).map(({ id }) => id);
    expect(granted).toHaveLength(10);
    expect((await members(customerId, 'daily')).sort()).toEqual([...granted].sort());
    for (const { result } of outcomes.filter(({ result }) => !result.granted)) {
      expect(result.violated).toHaveLength(1);
      expect(result.violated[0]?.count).toBe(10);
    }
  });

  it('keeps two overlapping rules exact and free of refused reservations under the race', async () => {
    const customerId = `cust-${randomUUID()}`;
    const rules = [
      rule('all', { limit: 10 }),
      rule('sms', { limit: 4, scope: { channel: 'sms' } }),
    ];
    const outcomes = await race(customerId, rules, (index) => ({
      channel: index % 2 === 0 ? 'sms' : 'email',
    }));
    const granted = outcomes.filter(({ result }) => result.granted).map(({ id }) => id);
    const grantedSms = granted.filter((id) => Number(id.slice(4)) % 2 === 0);
    expect(granted).toHaveLength(10);
    expect(grantedSms.length).toBeLessThanOrEqual(4);
    // Only granted ids are stored: a refusal by either rule left nothing behind in the other.
    expect((await members(customerId, 'all')).sort()).toEqual([...granted].sort());
    expect((await members(customerId, 'sms')).sort()).toEqual([...grantedSms].sort());
  });

  it('counts forced (transactional) sends in the race without letting marketing past the cap', async () => {
    const customerId = `cust-${randomUUID()}`;
    const outcomes = await race(customerId, [rule('daily')], (index) => ({
      channel: 'sms',
      force: index % 20 === 0,
    }));
    const forced = outcomes.filter(({ id }) => Number(id.slice(4)) % 20 === 0);
    expect(forced.every(({ result }) => result.granted)).toBe(true);
    const grantedMarketing = outcomes.filter(
      ({ id, result }) => result.granted && Number(id.slice(4)) % 20 !== 0,
    );
    // Forced sends can take slots first, so marketing gets whatever of the 10 they left.
    expect(grantedMarketing.length).toBeLessThanOrEqual(10);
    const stored = await members(customerId, 'daily');
    expect(stored.length).toBe(forced.length + grantedMarketing.length);
    // Marketing stopped at exactly 10; only forced sends that found the window full went past it.
    const forcedOver = forced.filter(({ result }) => result.violated.length > 0);
    expect(stored.length).toBe(10 + forcedOver.length);
  });

  it('frees released slots for other replicas', async () => {
    const customerId = `cust-${randomUUID()}`;
    const first = await race(customerId, [rule('daily')], () => ({ channel: 'sms' }));
    const granted = first.flatMap(({ result }) => (result.granted ? [result.reservation] : []));
    // A provider refused three of the sends: their slots go back.
    await Promise.all(granted.slice(0, 3).map((reservation, i) => replica(i).release(reservation)));
    const again = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        replica(index).reserve({
          customerId,
          channel: 'sms',
          category: 'marketing',
          rules: [rule('daily')],
          now: new Date(),
          reservationId: `second-${index}`,
          force: false,
        }),
      ),
    );
    expect(again.filter((result) => result.granted)).toHaveLength(3);
    expect(await members(customerId, 'daily')).toHaveLength(10);
  });
});
