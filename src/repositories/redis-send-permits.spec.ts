import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { SendPermit, SendRate } from '@omnigate/channels';
import { connectRedis } from './redis-cap-store';
import { SEND_RATE_SCRIPT, RedisSendPermits, sendRateKey } from './redis-send-permits';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPLICAS = 6;
const redisOptions = { connectTimeout: 2000, retryStrategy: () => null };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const granted = (permits: readonly SendPermit[]) => permits.filter((p) => p.granted).length;

/** Stands in for ioredis where a real server cannot produce the case (an empty script cache). */
function fakeClient(calls: { evalsha: () => Promise<unknown>; eval: () => Promise<unknown> }): {
  client: Redis;
  eval: jest.Mock;
} {
  const evalScript = jest.fn(calls.eval);
  const client = { evalsha: jest.fn(calls.evalsha), eval: evalScript } as unknown as Redis;
  return { client, eval: evalScript };
}

describe('RedisSendPermits on a real Redis', () => {
  const keyPrefix = `test:send-rate:${randomUUID()}:`;
  let admin: Redis;
  let replicas: RedisSendPermits[] = [];

  /** Every replica with the same rates, each on its own connection, as separate processes are. */
  async function connectReplicas(rates: Record<string, SendRate>, guardMs = 0): Promise<void> {
    await Promise.all(replicas.map((replica) => replica.close()));
    const table = { rates: new Map(Object.entries(rates)), guardMs };
    replicas = await Promise.all(
      Array.from({ length: REPLICAS }, async () =>
        RedisSendPermits.connect(REDIS_URL, table, { keyPrefix, redis: redisOptions }),
      ),
    );
  }

  function replica(index: number): RedisSendPermits {
    const store = replicas[index % replicas.length];
    if (store === undefined) throw new Error('no replicas connected');
    return store;
  }

  /** A provider id of its own per test, so tests never share a window. */
  const provider = () => `p_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    admin = await connectRedis(REDIS_URL, redisOptions);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.close()));
    if (admin) {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    }
  });

  it('grants exactly the limit of 300 calls racing from several replicas', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 7, windowMs: 60_000 } });
    const permits = await Promise.all(
      Array.from({ length: 300 }, (_, index) => replica(index).acquire(id)),
    );
    expect(granted(permits)).toBe(7);
    expect(await admin.zcard(`${keyPrefix}${sendRateKey(id)}`)).toBe(7);
    for (const permit of permits) {
      if (!permit.granted) expect(permit.retryAfterMs).toBeGreaterThan(59_000);
    }
  });

  it('slides: after part of a window, only the grants that left it are given back', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 3, windowMs: 400 } });
    await replica(0).acquire(id);
    await sleep(200);
    expect(granted([await replica(1).acquire(id), await replica(2).acquire(id)])).toBe(2);
    const refused = await replica(3).acquire(id);
    if (refused.granted) throw new Error('granted past the limit');
    // The first grant leaves at most 200 ms from now (less if the sleep ran long).
    expect(refused.retryAfterMs).toBeLessThanOrEqual(200);
    await sleep(refused.retryAfterMs + 5);
    // One slot came back, not a whole fresh window.
    const after = await Promise.all(Array.from({ length: 5 }, (_, i) => replica(i).acquire(id)));
    expect(granted(after)).toBe(1);
  });

  it('adds the guard to the window', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 1, windowMs: 100 } }, 300);
    await replica(0).acquire(id);
    const refused = await replica(1).acquire(id);
    if (refused.granted) throw new Error('granted past the limit');
    // Without the guard the wait could not exceed the 100 ms window.
    expect(refused.retryAfterMs).toBeGreaterThan(300);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(400);
  });

  it('gives about the rate, never more, to replicas hammering it for several windows', async () => {
    const id = provider();
    const limit = 4;
    const windowMs = 200;
    await connectReplicas({ [id]: { limit, windowMs } });
    let grants = 0;
    const started = Date.now();
    const until = started + 6 * windowMs;
    await Promise.all(
      replicas.map(async (store) => {
        while (Date.now() < until) {
          if ((await store.acquire(id)).granted) grants += 1;
          await sleep(2);
        }
      }),
    );
    const windows = (Date.now() - started) / windowMs;
    // Any span of n windows holds at most n × limit grants, plus one window's worth at its edge.
    expect(grants).toBeLessThanOrEqual(Math.ceil(windows) * limit + limit);
    expect(grants).toBeGreaterThanOrEqual(Math.floor(windows - 1) * limit);
    expect(await admin.zcard(`${keyPrefix}${sendRateKey(id)}`)).toBeLessThanOrEqual(limit);
  });

  it('stores grants at the server time and expires the key one window after the last grant', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 2, windowMs: 5000 } }, 50);
    const [seconds, micros] = await admin.time();
    const before = Number(seconds) * 1e6 + Number(micros);
    await replica(0).acquire(id);
    const key = `${keyPrefix}${sendRateKey(id)}`;
    const [, score] = await admin.zrange(key, 0, -1, 'WITHSCORES');
    expect(Number(score)).toBeGreaterThanOrEqual(before);
    expect(Number(score)).toBeLessThan(before + 1e6);
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5050);
  });

  it('moves an ended call to the server time of its end, from any replica', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 1, windowMs: 300 } });
    const permit = await replica(0).acquire(id);
    if (!permit.granted) throw new Error('refused');
    const key = `${keyPrefix}${sendRateKey(id)}`;
    const granted = Number(await admin.zscore(key, permit.id));
    await sleep(200);
    await replica(1).complete(id, permit);
    expect(Number(await admin.zscore(key, permit.id)) - granted).toBeGreaterThanOrEqual(190_000);
    await sleep(150);
    // 350 ms after the grant, but only 150 ms after the call ended: still counted.
    const refused = await replica(2).acquire(id);
    if (refused.granted) throw new Error('the ended call was counted from its grant');
    expect(refused.retryAfterMs).toBeLessThanOrEqual(150);
  });

  it('counts again a call that ended after its grant left the window', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 1, windowMs: 100 } });
    const slow = await replica(0).acquire(id);
    if (!slow.granted) throw new Error('refused');
    await sleep(120);
    expect((await replica(1).acquire(id)).granted).toBe(true);
    await replica(0).complete(id, slow);
    expect(await admin.zcard(`${keyPrefix}${sendRateKey(id)}`)).toBe(2);
  });

  it('leaves a permit used within half the guard untouched, without a round trip', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 2, windowMs: 5000 } }, 1000);
    const permit = await replica(0).acquire(id);
    if (!permit.granted) throw new Error('refused');
    const key = `${keyPrefix}${sendRateKey(id)}`;
    const before = await admin.zscore(key, permit.id);
    expect(await replica(0).renew(id, permit)).toBe(permit);
    expect(await admin.zscore(key, permit.id)).toBe(before);
  });

  it('moves a held-up permit to the server time of its renewal', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 1, windowMs: 5000 } });
    const permit = await replica(0).acquire(id);
    if (!permit.granted) throw new Error('refused');
    const key = `${keyPrefix}${sendRateKey(id)}`;
    const before = Number(await admin.zscore(key, permit.id));
    await sleep(30);
    // The window is full (limit 1), yet the permit's own slot is still there to move.
    expect(await replica(1).renew(id, permit)).toMatchObject({ granted: true, id: permit.id });
    expect(Number(await admin.zscore(key, permit.id)) - before).toBeGreaterThanOrEqual(25_000);
    expect(await admin.zcard(key)).toBe(1);
  });

  it('refuses the renewal of a permit that lapsed while the window filled', async () => {
    const id = provider();
    await connectReplicas({ [id]: { limit: 1, windowMs: 100 } });
    const held = await replica(0).acquire(id);
    if (!held.granted) throw new Error('refused');
    await sleep(120);
    expect((await replica(1).acquire(id)).granted).toBe(true);
    expect((await replica(0).renew(id, held)).granted).toBe(false);
  });

  it('makes no round trip for a provider without a rate', async () => {
    const id = provider();
    await connectReplicas({});
    expect(
      granted(await Promise.all(Array.from({ length: 50 }, () => replica(0).acquire(id)))),
    ).toBe(50);
    expect(await admin.exists(`${keyPrefix}${sendRateKey(id)}`)).toBe(0);
  });
});

describe('RedisSendPermits script cache', () => {
  const table = { rates: new Map([['twilio', { limit: 5, windowMs: 1000 }]]), guardMs: 50 };

  it('falls back to EVAL when the server has no copy (NOSCRIPT)', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: () => Promise.resolve([0, 1500]),
    });
    const permit = await new RedisSendPermits(fake.client, table).acquire('twilio');
    expect(permit).toEqual({ granted: false, retryAfterMs: 2 });
    // One key, then ARGV: limit, window ms with the guard, a grant id, the operation.
    const args = fake.eval.mock.calls[0] as unknown[];
    expect(args.slice(0, 5)).toEqual([SEND_RATE_SCRIPT, 1, 'send-rate:twilio', '5', '1050']);
    expect(args.slice(6)).toEqual(['if room']);
  });

  it('lets other errors through', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.reject(new Error('Connection is closed.')),
      eval: () => Promise.reject(new Error('not expected')),
    });
    await expect(new RedisSendPermits(fake.client, table).acquire('twilio')).rejects.toThrow(
      'Connection is closed.',
    );
    expect(fake.eval).not.toHaveBeenCalled();
  });
});
