import Redis from 'ioredis';
import { Client } from 'pg';
import { PostgresCounters, quotedMonitorSource, RedisCallCounter } from './storage-counters';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('quotedMonitorSource', () => {
  it.each([
    [
      'Command queue state error. If you can reproduce this, please report it. Last reply: 1796596349.241398 [0 lua] "ZREMRANGEBYSCORE" "k" "-inf" "1"',
      'lua',
    ],
    [
      'Command queue state error. If you can reproduce this, please report it. Last reply: 1796596349.241398 [0 127.0.0.1:50412] "EVALSHA" "ab" "1"',
      '127.0.0.1:50412',
    ],
    ['Connection is closed.', undefined],
    [
      'Command queue state error. If you can reproduce this, please report it. Last error: ERR x',
      undefined,
    ],
  ])('%s → %s', (message, source) => {
    expect(quotedMonitorSource(message)).toBe(source);
  });
});

describe('RedisCallCounter against a busy Redis', () => {
  it('starts watching while another connection floods the server, and counts this process', async () => {
    const flood = new Redis(REDIS_URL);
    const counter = await RedisCallCounter.start(REDIS_URL);
    let flooding = true;
    const floodDone = (async () => {
      while (flooding) {
        const pipeline = flood.pipeline();
        for (let i = 0; i < 500; i += 1) pipeline.ping();
        await pipeline.exec();
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await counter.begin(process.pid);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await counter.end();

      expect(counter.monitorFailure).toBeUndefined();
      // The flood's connections belong to this process: its PINGs were counted.
      expect(counter.processCalls).toBeGreaterThan(500);
      // 500 PINGs a pipeline arrive in a read or a few: round trips, far fewer than the calls
      // (server-wide, so other suites' commands count in both).
      expect(counter.serverWideReads).toBeGreaterThan(0);
      expect(counter.serverWideReads * 5).toBeLessThan(counter.serverWideCalls);
    } finally {
      flooding = false;
      await floodDone;
      await counter.close();
      flood.disconnect();
    }
  });
});

describe('PostgresCounters', () => {
  it('reports a connection the server ended at its next read, without an unhandled error', async () => {
    const counters = await PostgresCounters.connect(DATABASE_URL, 'public');
    const admin = new Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      expect((await counters.read()).statements).toBeGreaterThan(0);
      // What dropping the run's database does to every connection to it.
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where application_name = 'omnigate-bench-counters'`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));

      await expect(counters.read()).rejects.toThrow(
        'the connection for the PostgreSQL counters was lost',
      );
    } finally {
      await counters.close().catch(() => undefined);
      await admin.end();
    }
  });
});
