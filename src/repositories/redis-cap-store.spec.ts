import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import type Redis from 'ioredis';
import type { CapRule } from '../policy/frequency-caps';
import type { ReserveRequest } from './cap-store';
import { isDependencyFailure } from './dependency-failure';
import {
  connectRedis,
  redisOptionsFor,
  RESERVE_SCRIPT,
  RedisCapStore,
  type RedisLogger,
} from './redis-cap-store';

// The contract shared with MemoryCapStore is in cap-store.spec.ts; this file checks what only the
// Redis store has: key layout, expiry, the script cache, connection failures.

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DAY_MS = 24 * 3600 * 1000;

function rule(id: string, overrides: Partial<CapRule> = {}): CapRule {
  return { id, scope: {}, windowSeconds: 24 * 3600, limit: 3, overCap: 'cap', ...overrides };
}

function request(overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    customerId: 'cust-1',
    channel: 'sms',
    category: 'marketing',
    rules: [rule('daily')],
    now: new Date(),
    reservationId: randomUUID(),
    force: false,
    ...overrides,
  };
}

/** Stands in for ioredis where a real server cannot produce the case (an empty script cache). */
function fakeClient(calls: { evalsha: () => Promise<unknown>; eval: () => Promise<unknown> }): {
  client: Redis;
  evalsha: jest.Mock;
  eval: jest.Mock;
} {
  const evalsha = jest.fn(calls.evalsha);
  const evalScript = jest.fn(calls.eval);
  const client = { evalsha, eval: evalScript } as unknown as Redis;
  return { client, evalsha, eval: evalScript };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('RedisCapStore on a real Redis', () => {
  const keyPrefix = `test:caps:${randomUUID()}:`;
  let admin: Redis;
  let store: RedisCapStore;

  beforeAll(async () => {
    const options = { connectTimeout: 2000, retryStrategy: () => null };
    admin = await connectRedis(REDIS_URL, options);
    store = new RedisCapStore(await connectRedis(REDIS_URL, options), { keyPrefix });
  });
  afterAll(async () => {
    await store?.close();
    if (admin) {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    }
  });

  it('reserves for many customers in one pipeline, still exact per customer', async () => {
    const pipeline = jest.spyOn(store['client'], 'pipeline');
    const evalsha = jest.spyOn(store['client'], 'evalsha');
    const tight = [rule('daily', { limit: 1 })];
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) =>
        store.reserve(request({ customerId: `batch-${i}`, rules: tight })),
      ),
      // Two sends racing for the one slot of batch-0: one of them gets it.
      store.reserve(request({ customerId: 'batch-0', rules: tight })),
    ]);
    expect(pipeline).toHaveBeenCalledTimes(1);
    expect(evalsha).not.toHaveBeenCalled();
    expect(results.slice(1, 10).every((r) => r.granted)).toBe(true);
    expect([results[0].granted, results[10]!.granted].sort()).toEqual([false, true]);
    expect(await admin.zcard(`${keyPrefix}cap:{batch-0}:daily`)).toBe(1);
    pipeline.mockRestore();
    evalsha.mockRestore();
  });

  it('keeps one sorted set per rule under the customer hash tag, expiring after its window', async () => {
    const customerId = `cust:{odd} ${randomUUID()}`;
    const rules = [rule('daily'), rule('hourly', { windowSeconds: 3600 })];
    const now = new Date();
    const result = await store.reserve(request({ customerId, rules, now }));
    if (!result.granted) throw new Error('refused');

    const tag = encodeURIComponent(customerId);
    const keys = (await admin.keys(`${keyPrefix}*`)).filter((key) => key.includes(tag)).sort();
    expect(keys).toEqual([`${keyPrefix}cap:{${tag}}:daily`, `${keyPrefix}cap:{${tag}}:hourly`]);
    for (const key of keys) {
      // Redis Cluster hashes the text between the first "{" and the next "}".
      expect(key.slice(key.indexOf('{') + 1, key.indexOf('}'))).toBe(tag);
      expect(await admin.zrange(key, 0, -1, 'WITHSCORES')).toEqual([
        result.reservation.reservationId,
        String(now.getTime()),
      ]);
    }
    const dailyTtl = await admin.pttl(`${keyPrefix}cap:{${tag}}:daily`);
    const hourlyTtl = await admin.pttl(`${keyPrefix}cap:{${tag}}:hourly`);
    expect(dailyTtl).toBeGreaterThan(DAY_MS - 60_000);
    expect(dailyTtl).toBeLessThanOrEqual(DAY_MS);
    expect(hourlyTtl).toBeGreaterThan(3600_000 - 60_000);
    expect(hourlyTtl).toBeLessThanOrEqual(3600_000);
  });

  it('writes nothing into the roomy rule when a tight rule refuses', async () => {
    const customerId = `cust-${randomUUID()}`;
    const rules = [rule('roomy', { limit: 5 }), rule('tight', { limit: 1 })];
    const first = await store.reserve(request({ customerId, rules }));
    const refused = await store.reserve(request({ customerId, rules, reservationId: 'refused' }));
    expect(refused.granted).toBe(false);
    const roomy = await admin.zrange(`${keyPrefix}cap:{${customerId}}:roomy`, 0, -1);
    expect(roomy).toEqual([first.granted && first.reservation.reservationId]);
  });

  it('removes the key entirely once its last reservation is released', async () => {
    const customerId = `cust-${randomUUID()}`;
    const result = await store.reserve(request({ customerId }));
    if (!result.granted) throw new Error('refused');
    await store.release(result.reservation);
    expect(await admin.exists(`${keyPrefix}cap:{${customerId}}:daily`)).toBe(0);
  });

  it('trims entries that have left the window from the stored set', async () => {
    const customerId = `cust-${randomUUID()}`;
    const start = Date.now();
    await store.reserve(request({ customerId, now: new Date(start), reservationId: 'old' }));
    await store.reserve(
      request({ customerId, now: new Date(start + DAY_MS), reservationId: 'new' }),
    );
    expect(await admin.zrange(`${keyPrefix}cap:{${customerId}}:daily`, 0, -1)).toEqual(['new']);
  });
});

describe('RedisCapStore script cache', () => {
  const granted = [1];

  it('answers each call of a pipeline with its own error, and fails them all when it cannot run', async () => {
    const failing = {
      pipeline: () => ({
        exec: () =>
          Promise.resolve([
            [null, granted],
            [new Error('READONLY You can not write against a replica.'), null],
          ]),
      }),
    } as unknown as Redis;
    const partly = new RedisCapStore(failing);
    const results = await Promise.allSettled([
      partly.reserve(request({ customerId: 'a' })),
      partly.reserve(request({ customerId: 'b' })),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);

    const down = {
      pipeline: () => ({ exec: () => Promise.reject(new Error('Connection is closed.')) }),
    } as unknown as Redis;
    const unreachable = new RedisCapStore(down);
    const failed = await Promise.allSettled([
      unreachable.reserve(request({ customerId: 'a' })),
      unreachable.reserve(request({ customerId: 'b' })),
    ]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const result of failed) {
      expect(isDependencyFailure((result as PromiseRejectedResult).reason)).toBe(true);
    }
  });

  it('falls back to EVAL for the calls of a pipeline the server had no script for', async () => {
    const fake = {
      pipeline: () => ({
        exec: () =>
          Promise.resolve([
            [new Error('NOSCRIPT No matching script. Please use EVAL.'), null],
            [new Error('NOSCRIPT No matching script. Please use EVAL.'), null],
          ]),
      }),
      eval: jest.fn(() => Promise.resolve(granted)),
    };
    const store = new RedisCapStore(fake as unknown as Redis);
    const results = await Promise.all([
      store.reserve(request({ customerId: 'a' })),
      store.reserve(request({ customerId: 'b' })),
    ]);
    expect(results.map((r) => r.granted)).toEqual([true, true]);
    expect(fake.eval).toHaveBeenCalledTimes(2);
  });

  it('runs the cached script by its SHA', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.resolve(granted),
      eval: () => Promise.reject(new Error('not expected')),
    });
    const result = await new RedisCapStore(fake.client).reserve(request());
    expect(result.granted).toBe(true);
    expect(fake.eval).not.toHaveBeenCalled();
  });

  it('falls back to EVAL when the server has no copy (NOSCRIPT)', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: () => Promise.resolve(granted),
    });
    const result = await new RedisCapStore(fake.client).reserve(request());
    expect(result.granted).toBe(true);
    // KEYS then ARGV: now, reservation id, force, and limit + window ms per rule.
    const args: unknown[] = [1, 'cap:{cust-1}:daily', expect.any(String), expect.any(String)];
    expect(fake.eval).toHaveBeenCalledWith(RESERVE_SCRIPT, ...args, '0', '3', '86400000');
  });

  it('passes other errors through without retrying', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.reject(new Error('READONLY You can not write against a replica.')),
      eval: () => Promise.resolve(granted),
    });
    await expect(new RedisCapStore(fake.client).reserve(request())).rejects.toThrow('READONLY');
    expect(fake.eval).not.toHaveBeenCalled();
  });

  it('refuses a reply it does not understand', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.resolve('OK'),
      eval: () => Promise.resolve(),
    });
    await expect(new RedisCapStore(fake.client).reserve(request())).rejects.toThrow(
      'unexpected reply from the cap reserve script',
    );
  });

  it('skips the round trip when no rule applies', async () => {
    const fake = fakeClient({
      evalsha: () => Promise.resolve(granted),
      eval: () => Promise.resolve(),
    });
    const rules = [rule('email-only', { scope: { channel: 'email' } })];
    expect((await new RedisCapStore(fake.client).reserve(request({ rules }))).granted).toBe(true);
    expect(fake.evalsha).not.toHaveBeenCalled();
  });
});

describe('RedisCapStore set-up', () => {
  it('rejects a key prefix with braces, which would become the hash tag', () => {
    const fake = fakeClient({ evalsha: () => Promise.resolve(), eval: () => Promise.resolve() });
    expect(() => new RedisCapStore(fake.client, { keyPrefix: 'omni{x}:' })).toThrow('braces');
  });

  it('fails to connect with the socket reason and without the password', async () => {
    const port = await closedPort();
    const attempt = connectRedis(`redis://:hunter2@127.0.0.1:${port}`, {
      retryStrategy: () => null,
    });
    await expect(attempt).rejects.toThrow(
      /not reachable at redis:\/\/:\*\*\*@127\.0\.0\.1.*ECONNREFUSED/,
    );
    await expect(attempt).rejects.not.toThrow('hunter2');
  });
});

describe('a Redis client through an outage', () => {
  /** A redis-server of this test's own, so stopping it disturbs nobody else. */
  class OwnRedis {
    private child: ChildProcess | undefined;
    constructor(readonly port: number) {}

    async start(): Promise<void> {
      const child = spawn(
        'redis-server',
        ['--port', String(this.port), '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      this.child = child;
      for (let tries = 0; tries < 100; tries += 1) {
        if (await accepts(this.port)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`redis-server did not start on ${this.port}`);
    }

    async stop(): Promise<void> {
      const child = this.child;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  function accepts(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  class Recorder implements RedisLogger {
    readonly lines: Array<{ level: string; fields: object; message: string }> = [];
    info(fields: object, message: string): void {
      this.lines.push({ level: 'info', fields, message });
    }
    error(fields: object, message: string): void {
      this.lines.push({ level: 'error', fields, message });
    }
  }

  let redis: OwnRedis;
  beforeEach(async () => {
    redis = new OwnRedis(await closedPort());
    await redis.start();
  });
  afterEach(async () => {
    await redis.stop();
  });

  it('chooses timeouts, keepalive and one retry per command deliberately', () => {
    const options = redisOptionsFor({ commandTimeoutMs: 1500, connectTimeoutMs: 4000 });
    expect(options).toMatchObject({
      commandTimeout: 1500,
      connectTimeout: 4000,
      keepAlive: 10_000,
      maxRetriesPerRequest: 1,
    });
    // Reconnects keep going (never null) and are at most a second apart.
    const delays = [1, 2, 5, 50, 5000].map((attempt) => options.retryStrategy?.(attempt));
    expect(delays).toEqual([100, 200, 500, 1000, 1000]);
  });

  it('fails a command fast while Redis is down, logs the outage once and its end', async () => {
    const logger = new Recorder();
    const client = await connectRedis(
      `redis://127.0.0.1:${redis.port}`,
      redisOptionsFor({ commandTimeoutMs: 500, connectTimeoutMs: 1000 }),
      logger,
    );
    try {
      await redis.stop();
      const startedAt = Date.now();
      const failure = await client.ping().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(Date.now() - startedAt).toBeLessThan(1500);
      expect(isDependencyFailure(failure)).toBe(true);
      // Several reconnect attempts fail meanwhile; one line says so.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const errors = logger.lines.filter((line) => line.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]!.fields).toMatchObject({ code: 'ECONNREFUSED' });

      await redis.start();
      const restartedAt = Date.now();
      await waitFor(async () => (await client.ping().catch(() => 'down')) === 'PONG');
      expect(Date.now() - restartedAt).toBeLessThan(3000);
      await waitFor(() => Promise.resolve(logger.lines.some((line) => line.level === 'info')));
      expect(logger.lines.at(-1)).toMatchObject({
        level: 'info',
        message: 'Redis connection restored',
      });
    } finally {
      client.disconnect();
    }
  });

  async function waitFor(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
});
