import {
  capKey,
  PEEK_ID,
  rulesToReserve,
  type CapStore,
  type CapViolation,
  type PeekRequest,
  type ReleaseRequest,
  type ReserveRequest,
  type ReserveResult,
} from './cap-store';
import { SlidingWindows, type SlidingWindow } from './sliding-windows';

export interface MemoryCapStoreOptions {
  /** Sweep idle windows after this many reservations; keeps memory bounded by active customers. */
  readonly sweepEvery?: number;
}

/**
 * In-process CapStore for a single local instance without Redis. Same semantics as
 * RedisCapStore; atomic because each call runs to completion without yielding to the event loop.
 */
export class MemoryCapStore implements CapStore {
  private readonly windows: SlidingWindows;
  private closed = false;

  constructor(options: MemoryCapStoreOptions = {}) {
    this.windows = new SlidingWindows(options.sweepEvery ?? 1000);
  }

  /** Number of live rule windows; for tests of the sweep. */
  get size(): number {
    return this.windows.size;
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    // The executor turns a synchronous throw into a rejection, like the Redis store's errors.
    return new Promise((resolve) => resolve(this.reserveNow(request)));
  }

  peek(request: PeekRequest): Promise<readonly CapViolation[]> {
    return new Promise((resolve) =>
      resolve(
        this.reserveNow({ ...request, reservationId: PEEK_ID, force: false }, { peek: true })
          .violated,
      ),
    );
  }

  release(reservation: ReleaseRequest): Promise<void> {
    return new Promise((resolve) => {
      this.assertOpen();
      for (const ruleId of reservation.ruleIds) {
        this.windows.remove(capKey(reservation.customerId, ruleId), reservation.reservationId);
      }
      resolve();
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.windows.clear();
    return Promise.resolve();
  }

  private reserveNow(request: ReserveRequest, { peek } = { peek: false }): ReserveResult {
    this.assertOpen();
    const rules = rulesToReserve(request);
    const now = request.now.getTime();
    this.windows.noteReserve(now);
    const { reservationId } = request;
    const violated: CapViolation[] = [];
    const windows = rules.map((rule) => {
      const windowMs = rule.windowSeconds * 1000;
      const key = capKey(request.customerId, rule.id);
      const window = this.windows.current(key, windowMs, now);
      // Already counted (a retried reserve): needs no new room.
      if (!window.entries.has(reservationId) && window.entries.size >= rule.limit) {
        violated.push({ rule, ...fullness(window, rule.limit, windowMs) });
      }
      return { key, window, windowMs };
    });
    const granted = request.force || violated.length === 0;
    for (const { key, window, windowMs } of windows) {
      if (granted && !peek) {
        // Keep the first time: a retry must not push its own slot further out.
        if (!window.entries.has(reservationId)) window.entries.set(reservationId, now);
        window.windowMs = windowMs;
      }
      this.windows.store(key, window);
    }
    if (!granted) return { granted: false, violated };
    return {
      granted: true,
      reservation: {
        customerId: request.customerId,
        reservationId,
        ruleIds: rules.map((rule) => rule.id),
        at: request.now,
      },
      violated,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemoryCapStore is closed');
  }
}

/**
 * A slot frees when the count falls to limit - 1, i.e. when entry number count - limit (oldest
 * first) leaves; that is the oldest entry unless forced sends pushed the count past the limit.
 */
function fullness(
  window: SlidingWindow,
  limit: number,
  windowMs: number,
): { count: number; retryAt: Date } {
  const times = [...window.entries.values()].sort((a, b) => a - b);
  const count = times.length;
  const freesWith = times[count - limit] ?? 0;
  return { count, retryAt: new Date(freesWith + windowMs) };
}
