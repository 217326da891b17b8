/**
 * When to try again after every provider failed on its side (down, throttled, breaker open):
 * exponential backoff with full jitter, never sooner than the provider's Retry-After, and never
 * past the message's expiry. Pure: the random source is passed in.
 */
export interface RetryPolicy {
  /** Retries after the first try; 0 turns retries off. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export type RetryDecision =
  | { readonly retry: true; readonly at: Date; readonly delayMs: number }
  | { readonly retry: false; readonly why: 'RETRIES_EXHAUSTED' | 'WOULD_EXPIRE' };

export function nextRetry(input: {
  readonly policy: RetryPolicy;
  /** Retries already made (0 before the first retry). */
  readonly retriesSoFar: number;
  readonly now: Date;
  readonly expiresAt: Date;
  readonly retryAfterMs?: number;
  readonly random: () => number;
}): RetryDecision {
  const { policy, retriesSoFar, now, expiresAt } = input;
  if (retriesSoFar >= policy.maxRetries) return { retry: false, why: 'RETRIES_EXHAUSTED' };
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retriesSoFar);
  const jittered = Math.floor(input.random() * ceiling);
  const delayMs = Math.max(jittered, input.retryAfterMs ?? 0, 1);
  const at = new Date(now.getTime() + delayMs);
  if (at.getTime() >= expiresAt.getTime()) return { retry: false, why: 'WOULD_EXPIRE' };
  return { retry: true, at, delayMs };
}
