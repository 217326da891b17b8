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
import { SlidingWindows } from './sliding-windows';

/**
 * In-process SpendCounters for a single local instance without Redis. Same semantics as
 * RedisSpendCounters; atomic because each call runs to completion without yielding.
 */
export class MemorySpendCounters implements SpendCounters {
  private readonly windows: SlidingWindows;
  private closed = false;

  constructor(sweepEvery = 1000) {
    this.windows = new SlidingWindows(sweepEvery);
  }

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
        this.windows.remove(spendKey(reservation.channel, limit), reservation.reservationId);
      }
      resolve();
    });
  }

  budgetUsed(channel: SpendChannel, day: string): Promise<number> {
    return new Promise((resolve) => {
      this.assertOpen();
      resolve(this.windows.count(budgetKey(channel, day)));
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
    this.windows.noteReserve(now);
    const { reservationId } = request;
    const full: SpendLimit[] = [];
    const windows = request.limits.map((limit) => {
      const windowMs = limit.windowSeconds * 1000;
      const key = spendKey(request.channel, limit);
      const window = this.windows.current(key, windowMs, now);
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
      this.windows.store(key, window);
    }
    if (!granted) return { granted: false, full };
    return {
      granted: true,
      reservation: { channel: request.channel, reservationId, limits: request.limits },
      full,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemorySpendCounters is closed');
  }
}
