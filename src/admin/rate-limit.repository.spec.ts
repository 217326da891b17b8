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
});
