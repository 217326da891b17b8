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
  /** When it was asked for, on this process's monotonic clock (performance.now()). */
  readonly askedAt: number;
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
 * without one is always granted, without I/O. Nothing here waits for room: a call is counted at
 * once or refused without counting anything. A rejected promise (e.g. the shared store is
 * unreachable) propagates out of the router as an infrastructure failure.
 *
 * The provider counts a request when it arrives, which can be well after the grant: in a burst,
 * the attempt observer's database write held calls up for more than a second. A window that
 * counted such a call from its grant could free its slot early and let one call too many reach
 * the provider within its window. Hence the two later steps, which keep each call counted from a
 * moment no earlier than its request could have left: `renew` right before the request (when it
 * was held up), and `complete` once it has surely arrived.
 */
export interface SendPermits {
  /** Counts one call of the provider now, if its window has room. */
  acquire(providerId: string): Promise<SendPermit>;
  /**
   * Right before the request. A permit used promptly comes back as it is, without I/O. One held
   * up past what the guard absorbs is counted from now instead; if it already left the window in
   * the meantime, it needs room again like a new call, and is refused without it.
   */
  renew(providerId: string, permit: GrantedPermit): Promise<SendPermit>;
  /** The call has ended (accepted or failed): count it from now on. */
  complete(providerId: string, permit: GrantedPermit): Promise<void>;
}

/**
 * Whether a permit was held up long enough before its request to need renewing. Half the guard is
 * left for what follows the renewal: the request leaving the process and crossing the network.
 */
export function heldUpPastGuard(
  permit: GrantedPermit,
  guardMs: number,
  now: number = performance.now(),
): boolean {
  return now - permit.askedAt > guardMs / 2;
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
   * provider. `renew` and `complete` (SendPermits) correct the count for calls held up or slow;
   * the guard is the margin for the rest (the time between a renewal and the request's arrival, a
   * completion that could not be recorded, the provider's own clock), at the cost of a rate of
   * limit / (window + guard) instead of limit / window.
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
