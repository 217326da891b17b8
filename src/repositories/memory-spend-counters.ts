import {
  budgetKey,
  checkSpendRequest,
  spendKey,
  SPEND_PEEK_ID,
  type SpendChannel,
  type SpendCounters,
  type SpendLimit,
  type SpendReservation,
  type SpendReserveRequest,
  type SpendReserveResult,
} from './spend-counters';

interface Window {
  /** reservationId → time counted (ms). */
  readonly entries: Map<string, number>;
  windowMs: number;
}

/**
 * In-process SpendCounters for a single local instance without Redis. Same semantics as
 * RedisSpendCounters; atomic because each call runs to completion without yielding.
 */
export class MemorySpendCounters implements SpendCounters {
  private readonly windows = new Map<string, Window>();
  private reservesSinceSweep = 0;
  private closed = false;

  constructor(private readonly sweepEvery = 1000) {}

  /** Number of live windows; for tests of the sweep. */
  get size(): number {
    return this.windows.size;
  }

  reserve(request: SpendReserveRequest): Promise<SpendReserveResult> {
    return new Promise((resolve) => resolve(this.reserveNow(request, false)));
  }

  peek(request: Omit<SpendReserveRequest, 'reservationId'>): Promise<readonly SpendLimit[]> {
    return new Promise((resolve) =>
      resolve(this.reserveNow({ ...request, reservationId: SPEND_PEEK_ID }, true).full),
    );
  }

  release(reservation: SpendReservation): Promise<void> {
    return new Promise((resolve) => {
      this.assertOpen();
      for (const limit of reservation.limits) {
        const key = spendKey(reservation.channel, limit);
        const window = this.windows.get(key);
        if (window === undefined) continue;
        window.entries.delete(reservation.reservationId);
        if (window.entries.size === 0) this.windows.delete(key);
      }
      resolve();
    });
  }

  budgetUsed(channel: SpendChannel, day: string): Promise<number> {
    return new Promise((resolve) => {
      this.assertOpen();
      resolve(this.windows.get(budgetKey(channel, day))?.entries.size ?? 0);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.windows.clear();
    return Promise.resolve();
  }

  private reserveNow(request: SpendReserveRequest, peek: boolean): SpendReserveResult {
    this.assertOpen();
    checkSpendRequest(request);
    const now = request.now.getTime();
    this.maybeSweep(now);
    const { reservationId } = request;
    const full: SpendLimit[] = [];
    const windows = request.limits.map((limit) => {
      const windowMs = limit.windowSeconds * 1000;
      const key = spendKey(request.channel, limit);
      const window = this.windows.get(key) ?? { entries: new Map<string, number>(), windowMs };
      trim(window, now - windowMs);
      // Already counted (a retried reserve): needs no new room.
      if (!window.entries.has(reservationId) && window.entries.size >= limit.limit) {
        full.push(limit);
      }
      return { key, window, windowMs };
    });
    const granted = !full.some((limit) => limit.enforced);
    for (const { key, window, windowMs } of windows) {
      if (granted && !peek && !window.entries.has(reservationId)) {
        window.entries.set(reservationId, now);
        window.windowMs = windowMs;
      }
      if (window.entries.size > 0) this.windows.set(key, window);
      else this.windows.delete(key);
    }
    if (!granted) return { granted: false, full };
    return {
      granted: true,
      reservation: { channel: request.channel, reservationId, limits: request.limits },
      full,
    };
  }

  private maybeSweep(now: number): void {
    this.reservesSinceSweep += 1;
    if (this.reservesSinceSweep < this.sweepEvery) return;
    this.reservesSinceSweep = 0;
    for (const [key, window] of this.windows) {
      trim(window, now - window.windowMs);
      if (window.entries.size === 0) this.windows.delete(key);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemorySpendCounters is closed');
  }
}

/** Drops entries at or before the cutoff: an entry counted at t leaves the window at t + window. */
function trim(window: Window, cutoff: number): void {
  for (const [id, at] of window.entries) {
    if (at <= cutoff) window.entries.delete(id);
  }
}
