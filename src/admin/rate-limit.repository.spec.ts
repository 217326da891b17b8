import { MemoryRateLimitStore } from './rate-limit.repository';

describe('in-process admin rate limits', () => {
  it('allows the limit in a window, refuses the next with the seconds left, and resets', async () => {
    const store = new MemoryRateLimitStore();
    const start = 120000;
    for (let i = 0; i < 3; i += 1) {
      expect((await store.hit('caller:a', 3, 60000, start + i)).allowed).toBe(true);
    }
    const refused = await store.hit('caller:a', 3, 60000, start + 15000);
    expect(refused).toEqual({ allowed: false, count: 4, retryAfterSeconds: 45 });
    expect((await store.hit('caller:b', 3, 60000, start + 15000)).allowed).toBe(true);
    expect((await store.hit('caller:a', 3, 60000, start + 60000)).allowed).toBe(true);
  });

  it('peeks at a bucket without counting', async () => {
    const store = new MemoryRateLimitStore();
    expect((await store.peek('auth-failures:ip', 1, 60000, 1000)).count).toBe(0);
    await store.hit('auth-failures:ip', 1, 60000, 1000);
    expect(await store.peek('auth-failures:ip', 1, 60000, 2000)).toEqual({
      allowed: true,
      count: 1,
      retryAfterSeconds: 58,
    });
    await store.hit('auth-failures:ip', 1, 60000, 3000);
    expect((await store.peek('auth-failures:ip', 1, 60000, 4000)).allowed).toBe(false);
    expect((await store.peek('auth-failures:ip', 1, 60000, 60000)).count).toBe(0);
  });
});
