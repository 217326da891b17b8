import {
  heldUpPastGuard,
  sendRateTableProblems,
  type GrantedPermit,
  type SendPermit,
  type SendPermits,
  type SendRate,
  type SendRateTable,
} from '@omnigate/channels';

export interface MemorySendPermitsOptions {
  /** Milliseconds from any fixed origin, never going back; tests move it by hand. */
  readonly now?: () => number;
}

interface Grant {
  readonly id: string;
  readonly at: number;
}

/**
 * In-process SendPermits for a single local instance without Redis, with the rule of
 * RedisSendPermits: at most `limit` grants in any window of the provider's window plus the guard.
 * Each provider keeps the calls in its window, oldest first. Atomic because each call runs to
 * completion without yielding to the event loop.
 */
export class MemorySendPermits implements SendPermits {
  private readonly windows = new Map<string, Grant[]>();
  private readonly now: () => number;
  private grants = 0;
  private closed = false;

  constructor(
    private readonly table: SendRateTable,
    options: MemorySendPermitsOptions = {},
  ) {
    const problems = sendRateTableProblems(table);
    if (problems.length > 0) throw new Error(`invalid send rates: ${problems.join('; ')}`);
    // Monotonic, so a wall-clock step cannot open or close a window early.
    this.now = options.now ?? (() => performance.now());
  }

  acquire(providerId: string): Promise<SendPermit> {
    // The executor turns a synchronous throw into a rejection, like the Redis store's errors.
    return new Promise((resolve) => {
      this.grants += 1;
      resolve(this.count(providerId, String(this.grants), 'new'));
    });
  }

  renew(providerId: string, permit: GrantedPermit): Promise<SendPermit> {
    return new Promise((resolve) => {
      if (!heldUpPastGuard(permit, this.table.guardMs, this.now())) resolve(permit);
      else resolve(this.count(providerId, permit.id, 'renewed'));
    });
  }

  complete(providerId: string, permit: GrantedPermit): Promise<void> {
    return new Promise((resolve) => {
      this.count(providerId, permit.id, 'ended');
      resolve();
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.windows.clear();
    return Promise.resolve();
  }

  /**
   * Counts the call `id` from now: moved here if it is still in the window, else added when there
   * is room, or in any case once it has ended (it has reached the provider by now).
   */
  private count(providerId: string, id: string, call: 'new' | 'renewed' | 'ended'): SendPermit {
    if (this.closed) throw new Error('MemorySendPermits is closed');
    const now = this.now();
    const rate = this.table.rates.get(providerId);
    if (rate === undefined) return { granted: true, id: '', askedAt: now };
    const windowMs = rate.windowMs + this.table.guardMs;
    const grants = this.windowOf(providerId, now - windowMs);
    // A new id cannot be there yet: no need to search a window of up to `limit` calls for it.
    const counted = call === 'new' ? -1 : grants.findIndex((grant) => grant.id === id);
    if (counted >= 0) grants.splice(counted, 1);
    else if (call !== 'ended' && grants.length >= rate.limit) {
      return refusal(grants, rate, windowMs, now);
    }
    // now is the latest time yet, so pushing keeps the window sorted.
    grants.push({ id, at: now });
    return { granted: true, id, askedAt: now };
  }

  /** The provider's grants after `cutoff`: a grant at t counts while now - t < window. */
  private windowOf(providerId: string, cutoff: number): Grant[] {
    const grants = this.windows.get(providerId) ?? [];
    this.windows.set(providerId, grants);
    const expired = grants.findIndex((grant) => grant.at > cutoff);
    grants.splice(0, expired < 0 ? grants.length : expired);
    return grants;
  }
}

/** Room returns when the oldest grant leaves the window. */
function refusal(grants: readonly Grant[], rate: SendRate, windowMs: number, now: number) {
  const oldest = grants[grants.length - rate.limit]?.at ?? now;
  return { granted: false, retryAfterMs: Math.max(1, Math.ceil(oldest + windowMs - now)) } as const;
}
