import { nextRetry } from './retry-backoff';

const policy = { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 5000 };
const now = new Date('2026-11-24T10:00:00Z');
const later = new Date('2026-11-25T10:00:00Z');

describe('nextRetry', () => {
  it.each([
    [0, 0.5, 500],
    [1, 0.5, 1000],
    [2, 0.5, 2000],
    [2, 0.99, 3960],
  ])(
    'after %i retries with random %f waits %i ms (full jitter under base × 2^n)',
    (retries, random, delay) => {
      const decision = nextRetry({
        policy,
        retriesSoFar: retries,
        now,
        expiresAt: later,
        random: () => random,
      });
      expect(decision).toEqual({
        retry: true,
        delayMs: delay,
        at: new Date(now.getTime() + delay),
      });
    },
  );

  it('caps the ceiling at the maximum delay', () => {
    const decision = nextRetry({
      policy: { ...policy, maxRetries: 20 },
      retriesSoFar: 10,
      now,
      expiresAt: later,
      random: () => 0.999,
    });
    expect(decision.retry && decision.delayMs).toBe(4995);
  });

  it("never retries sooner than the provider's Retry-After", () => {
    const decision = nextRetry({
      policy,
      retriesSoFar: 0,
      now,
      expiresAt: later,
      retryAfterMs: 120000,
      random: () => 0.1,
    });
    expect(decision.retry && decision.delayMs).toBe(120000);
  });

  it('stops after the last retry, and before a retry would land past the expiry', () => {
    expect(
      nextRetry({ policy, retriesSoFar: 3, now, expiresAt: later, random: () => 0.5 }),
    ).toEqual({ retry: false, why: 'RETRIES_EXHAUSTED' });
    expect(
      nextRetry({
        policy,
        retriesSoFar: 0,
        now,
        expiresAt: new Date(now.getTime() + 100),
        random: () => 0.5,
      }),
    ).toEqual({ retry: false, why: 'WOULD_EXPIRE' });
  });
});
