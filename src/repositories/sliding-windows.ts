/** Reservations counted in one window: reservationId → time counted (ms). */
export interface SlidingWindow {
  readonly entries: Map<string, number>;
  /** The window of the limit that last wrote it, so idle sweeping knows when it is dead. */
  windowMs: number;
}

/**
 * The in-process sliding windows behind the memory cap store and the memory spend counters: one
 * window per key, trimmed when read, forgotten when empty, and swept every `sweepEvery` reserves
 * so memory stays bounded by the keys in use.
 */
export class SlidingWindows {
  private readonly windows = new Map<string, SlidingWindow>();
  private reservesSinceSweep = 0;

  constructor(private readonly sweepEvery: number) {}

  /** Number of live windows; for tests of the sweep. */
  get size(): number {
    return this.windows.size;
  }

  /** The window under `key` with what fell out of it before `now` dropped (a new one if none). */
  current(key: string, windowMs: number, now: number): SlidingWindow {
    const window = this.windows.get(key) ?? { entries: new Map<string, number>(), windowMs };
    trim(window, now - windowMs);
    return window;
  }

  /** Keeps a window that still counts something, forgets an empty one. */
  store(key: string, window: SlidingWindow): void {
    if (window.entries.size > 0) this.windows.set(key, window);
    else this.windows.delete(key);
  }

  /** Takes one reservation out of the window under `key`. */
  remove(key: string, reservationId: string): void {
    const window = this.windows.get(key);
    if (window === undefined) return;
    window.entries.delete(reservationId);
    this.store(key, window);
  }

  /** How many reservations the window under `key` holds, untrimmed. */
  count(key: string): number {
    return this.windows.get(key)?.entries.size ?? 0;
  }

  /** Counts a reserve, and every `sweepEvery` of them drops windows nothing is left in. */
  noteReserve(now: number): void {
    this.reservesSinceSweep += 1;
    if (this.reservesSinceSweep < this.sweepEvery) return;
    this.reservesSinceSweep = 0;
    for (const [key, window] of this.windows) {
      trim(window, now - window.windowMs);
      if (window.entries.size === 0) this.windows.delete(key);
    }
  }

  clear(): void {
    this.windows.clear();
  }
}

/** Drops entries at or before the cutoff: an entry counted at t leaves the window at t + window. */
function trim(window: SlidingWindow, cutoff: number): void {
  for (const [id, at] of window.entries) {
    if (at <= cutoff) window.entries.delete(id);
  }
}
