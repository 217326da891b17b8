import { DependencyHealth, type DependencyProbe } from './dependency-health';
import { RecordingLogger } from './database/testing';

/** A probe whose answer the test sets: up, refused, or silent. */
function probe(name: string): DependencyProbe & { answer: 'up' | 'refused' | 'silent' } {
  const state = {
    name,
    answer: 'up' as 'up' | 'refused' | 'silent',
    check: (): Promise<void> => {
      if (state.answer === 'up') return Promise.resolve();
      if (state.answer === 'refused') {
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'x' }));
      }
      return new Promise<void>(() => undefined);
    },
  };
  return state;
}

describe('DependencyHealth', () => {
  const at = new Date('2026-03-01T10:00:00Z');
  let now = at;
  const options = { intervalMs: 1_000, timeoutMs: 50 };

  it('is up until a probe fails, names the dependency, and logs each change once', async () => {
    const postgres = probe('postgresql');
    const redis = probe('redis');
    const logger = new RecordingLogger();
    const health = new DependencyHealth([postgres, redis], logger, options, () => now);
    expect(health.allUp).toBe(true);

    redis.answer = 'refused';
    expect(await health.probe()).toBe(false);
    expect(await health.probe()).toBe(false);
    expect(health.allUp).toBe(false);
    expect(health.statuses).toEqual({
      postgresql: { state: 'up' },
      redis: { state: 'down', since: at.toISOString(), error: 'connect ECONNREFUSED' },
    });

    now = new Date(at.getTime() + 30_000);
    redis.answer = 'up';
    expect(await health.probe()).toBe(true);
    expect(health.statuses.redis).toEqual({ state: 'up' });
    expect(logger.entries.map((e) => [e.level, e.fields])).toEqual([
      ['error', { dependency: 'redis', error: 'connect ECONNREFUSED' }],
      ['info', { dependency: 'redis', downMs: 30_000 }],
    ]);
  });

  it('counts a dependency that does not answer in time as down', async () => {
    const postgres = probe('postgresql');
    postgres.answer = 'silent';
    const health = new DependencyHealth([postgres], new RecordingLogger(), options, () => now);
    const startedAt = Date.now();
    expect(await health.probe()).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(health.statuses.postgresql).toMatchObject({
      state: 'down',
      error: 'no answer within 50 ms',
    });
  });

  it('shares one round between callers that ask at once', async () => {
    const postgres = probe('postgresql');
    const check = jest.spyOn(postgres, 'check');
    const health = new DependencyHealth([postgres], new RecordingLogger(), options);
    await Promise.all([health.probe(), health.probe(), health.probe()]);
    expect(check).toHaveBeenCalledTimes(1);
  });

  it('probes on its own every interval once started, and stops at shutdown', async () => {
    jest.useFakeTimers();
    try {
      const postgres = probe('postgresql');
      const check = jest.spyOn(postgres, 'check');
      const health = new DependencyHealth([postgres], new RecordingLogger(), options);
      health.onApplicationBootstrap();
      await jest.advanceTimersByTimeAsync(3_000);
      expect(check).toHaveBeenCalledTimes(3);
      health.onApplicationShutdown();
      await jest.advanceTimersByTimeAsync(3_000);
      expect(check).toHaveBeenCalledTimes(3);
    } finally {
      jest.useRealTimers();
    }
  });
});
