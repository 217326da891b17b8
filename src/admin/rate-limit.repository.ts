import type { Redis } from 'ioredis';

export interface WindowVerdict {
  readonly allowed: boolean;
  /** Hits counted in the current window, this one included. */
  readonly count: number;
  /** Seconds until the window ends, for Retry-After. */
  readonly retryAfterSeconds: number;
}

/**
 * Fixed-window counters for the admin API's abuse limits. A fixed window lets a burst of twice
 * the limit through at a window edge; for a support tool that is an acceptable price for one
 * round trip per request.
 */
export interface RateLimitStore {
  hit(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict>;
  /** Where the bucket stands without counting a hit (e.g. failures so far, before trying again). */
  peek(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict>;
  close(): Promise<void>;
}

export const ADMIN_RATE_LIMITS = Symbol('AdminRateLimits');

/** Shared by every replica, so a caller's limit holds however requests are balanced. */
export class RedisRateLimitStore implements RateLimitStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async hit(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict> {
    const window = Math.floor(now / windowMs);
    const key = `${this.prefix}:${bucket}:${window}`;
    const results = await this.redis.multi().incr(key).pexpire(key, windowMs).exec();
    const first = results?.[0];
    if (!first || first[0]) throw first?.[0] ?? new Error('rate limit counter failed');
    const count = Number(first[1]);
    return verdict(count, limit, (window + 1) * windowMs - now);
  }

  async peek(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict> {
    const window = Math.floor(now / windowMs);
    const count = Number((await this.redis.get(`${this.prefix}:${bucket}:${window}`)) ?? 0);
    return verdict(count, limit, (window + 1) * windowMs - now);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

/** Without REDIS_URL: counts in this process only, which is right for one local instance. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly counts = new Map<string, { window: number; count: number }>();

  hit(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict> {
    const window = Math.floor(now / windowMs);
    const current = this.counts.get(bucket);
    const count = current?.window === window ? current.count + 1 : 1;
    this.counts.set(bucket, { window, count });
    if (this.counts.size > 10000) this.evict(window, windowMs);
    return Promise.resolve(verdict(count, limit, (window + 1) * windowMs - now));
  }

  peek(bucket: string, limit: number, windowMs: number, now: number): Promise<WindowVerdict> {
    const window = Math.floor(now / windowMs);
    const current = this.counts.get(bucket);
    const count = current?.window === window ? current.count : 0;
    return Promise.resolve(verdict(count, limit, (window + 1) * windowMs - now));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private evict(window: number, windowMs: number): void {
    for (const [key, value] of this.counts) {
      // Windows of different lengths share the map; anything a day old is over for all of them.
      if ((window - value.window) * windowMs > 86400000) this.counts.delete(key);
    }
  }
}

function verdict(count: number, limit: number, remainingMs: number): WindowVerdict {
  return {
    allowed: count <= limit,
    count,
    retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)),
  };
}
