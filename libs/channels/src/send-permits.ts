/**
 * Outbound send rates per provider. A provider's API (or its sender number) accepts only so many
 * requests per window; asking faster earns 429s at best and a suspended sender at worst. The router
 * takes a permit before each provider call, so work beyond the rate waits instead of failing.
 */

/** At most `limit` provider calls in any window of `windowMs` milliseconds. */
export interface SendRate {
  readonly limit: number;
  readonly windowMs: number;
}

/** A call counted in its provider's window. */
export interface GrantedPermit {
  readonly granted: true;
  /** The grant's entry in the store's window; unique per call. Empty for an unlimited provider. */
  readonly id: string;
}

/** A permit taken, or how long until the provider's window has room again. */
export type SendPermit =
  | GrantedPermit
  | {
      readonly granted: false;
      /** Until the oldest call in the window leaves it; at least 1. */
      readonly retryAfterMs: number;
    };

/**
 * The port the router uses. Implementations know each provider's configured rate; a provider
 * without one is always granted, without I/O. `acquire` never waits for room: it grants and counts
 * the call at once, or refuses without counting anything. A rejected promise (e.g. the shared
 * store is unreachable) propagates out of the router as an infrastructure failure.
 *
 * Why `complete`: the provider counts a request when it arrives, which can be well after the grant
 * (in a burst, the attempt observer's database write held calls up for half a second). A window
 * that counted such a call from its grant could free its slot early and let one call too many
 * reach the provider within its window. Once the call has ended it has certainly arrived, so
 * moving its entry to that moment makes the count exact, as long as a call ends within the window
 * (plus guard) of its grant; an ordinary provider call takes a fraction of any window in seconds.
 */
export interface SendPermits {
  /** Counts one call of the provider now, if its window has room. */
  acquire(providerId: string): Promise<SendPermit>;
  /** The granted call has ended (accepted or failed): count it from now on. */
  complete(providerId: string, permit: GrantedPermit): Promise<void>;
}

/** The vendorCode of an attempt the router skipped because the provider was at its send rate. */
export const LOCAL_RATE_LIMIT = 'LOCAL_RATE_LIMIT';

/** What a SendPermits store enforces: each provider's rate, and a guard added to every window. */
export interface SendRateTable {
  /** Provider id → its rate; a provider not listed is never throttled. */
  readonly rates: ReadonlyMap<string, SendRate>;
  /**
   * Added to each provider's window (RATE_LIMIT_GUARD_MS). A permit is counted when it is granted,
   * but the provider counts the request when it arrives, and the time in between varies (event
   * loop, connection pool, network, which replica sent it): two requests granted exactly one
   * window apart can arrive less than a window apart, one request too many in a window of the
   * provider. `complete` fixes that for calls that have ended; the guard is the margin for the rest
   * (a completion that could not be recorded, a call slower than the window, the provider's own
   * clock), at the cost of a rate of limit / (window + guard) instead of limit / window.
   */
  readonly guardMs: number;
}

/** What is wrong with a rate table, so stores refuse nonsense when they are built. */
export function sendRateTableProblems(table: SendRateTable): string[] {
  const problems: string[] = [];
  for (const [providerId, rate] of table.rates) {
    if (!Number.isSafeInteger(rate.limit) || rate.limit < 1) {
      problems.push(`${providerId}: limit must be a whole number ≥ 1, got ${rate.limit}`);
    }
    if (!Number.isSafeInteger(rate.windowMs) || rate.windowMs < 1) {
      problems.push(`${providerId}: window must be a whole number of ms ≥ 1, got ${rate.windowMs}`);
    }
  }
  if (!Number.isSafeInteger(table.guardMs) || table.guardMs < 0) {
    problems.push(`guard must be a whole number of ms ≥ 0, got ${table.guardMs}`);
  }
  return problems;
}

/** "5/s", "600/min" or "5 per 1500 ms", for messages and logs. */
export function describeSendRate(rate: SendRate): string {
  if (rate.windowMs === 1000) return `${rate.limit}/s`;
  if (rate.windowMs === 60_000) return `${rate.limit}/min`;
  if (rate.windowMs === 3_600_000) return `${rate.limit}/h`;
  return `${rate.limit} per ${rate.windowMs} ms`;
}
