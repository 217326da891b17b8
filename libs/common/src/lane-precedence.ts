/**
 * Gives a priority lane precedence over a bulk lane that shares the process with it (the event
 * loop, the database pool, the storage batches). While any priority task runs, the bulk lane
 * starts a new task only while fewer than `bulkLimitBehindPriority` of its own run; the rest wait
 * until the priority lane is idle or the running bulk tasks fall below the limit. Bulk tasks
 * already running are never interrupted, and the bulk lane keeps that many going, so steady
 * priority traffic slows it but never stops it.
 */
export class LanePrecedence {
  private priorityRunning = 0;
  private bulkRunning = 0;
  private readonly bulkWaiters: Array<() => void> = [];

  constructor(readonly bulkLimitBehindPriority: number) {
    if (!Number.isInteger(bulkLimitBehindPriority) || bulkLimitBehindPriority < 1) {
      throw new RangeError(
        `the bulk limit behind the priority lane must be a positive integer, got ${bulkLimitBehindPriority}`,
      );
    }
  }

  get priorityInFlight(): number {
    return this.priorityRunning;
  }

  get bulkInFlight(): number {
    return this.bulkRunning;
  }

  get bulkWaiting(): number {
    return this.bulkWaiters.length;
  }

  async priority<T>(task: () => Promise<T>): Promise<T> {
    this.priorityRunning += 1;
    try {
      return await task();
    } finally {
      this.priorityRunning -= 1;
      this.admitBulk();
    }
  }

  async bulk<T>(task: () => Promise<T>): Promise<T> {
    // FIFO: a newcomer does not overtake bulk tasks already waiting.
    if (this.bulkWaiters.length > 0 || !this.bulkMayStart()) {
      await new Promise<void>((resolve) => this.bulkWaiters.push(resolve));
    } else {
      this.bulkRunning += 1;
    }
    try {
      return await task();
    } finally {
      this.bulkRunning -= 1;
      this.admitBulk();
    }
  }

  private bulkMayStart(): boolean {
    return this.priorityRunning === 0 || this.bulkRunning < this.bulkLimitBehindPriority;
  }

  /** Starts waiting bulk tasks, oldest first, for as long as the rule allows. */
  private admitBulk(): void {
    while (this.bulkWaiters.length > 0 && this.bulkMayStart()) {
      this.bulkRunning += 1;
      this.bulkWaiters.shift()!();
    }
  }
}
