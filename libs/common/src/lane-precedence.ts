import { AsyncLocalStorage } from 'node:async_hooks';

/** The lanes a bulk task runs under, so a checkpoint deep in its call tree can find them. */
const bulkTaskLanes = new AsyncLocalStorage<LanePrecedence>();

/**
 * A checkpoint for the bulk task the caller runs in, if any (see LanePrecedence.checkpoint):
 * undefined, nothing to wait for, outside bulk tasks or while the bulk lane may go on. Call it only
 * where the task holds nothing another task could be waiting for (no transaction, provider slot or
 * reservation).
 */
export function bulkCheckpoint(): Promise<void> | undefined {
  return bulkTaskLanes.getStore()?.checkpoint();
}

/**
 * Gives a priority lane precedence over a bulk lane that shares the process with it (the event
 * loop, the database pool, the storage batches). While any priority task runs, the bulk lane
 * starts a new task only while fewer than `bulkLimitBehindPriority` of its own run; the rest wait
 * until the priority lane is idle or the running bulk tasks fall below the limit. A running bulk
 * task that reaches a checkpoint (bulkCheckpoint) above the limit steps aside the same way, and
 * goes on ahead of bulk tasks not yet started: with hundreds of bulk tasks in flight, letting them
 * all run on would fill the event loop an OTP needs. The bulk lane keeps that many going, so steady
 * priority traffic slows it but never stops it.
 */
export class LanePrecedence {
  private priorityRunning = 0;
  private bulkRunning = 0;
  private readonly bulkWaiters: Array<() => void> = [];
  /** Bulk tasks that stepped aside at a checkpoint, oldest first. */
  private readonly bulkParked: Array<() => void> = [];

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

  /** Bulk tasks that stepped aside at a checkpoint and wait to go on. */
  get bulkStepAside(): number {
    return this.bulkParked.length;
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
    // FIFO: a newcomer does not overtake bulk tasks already waiting or stepped aside.
    if (this.bulkWaiters.length > 0 || this.bulkParked.length > 0 || !this.bulkMayStart()) {
      await new Promise<void>((resolve) => this.bulkWaiters.push(resolve));
    } else {
      this.bulkRunning += 1;
    }
    try {
      return await bulkTaskLanes.run(this, task);
    } finally {
      this.bulkRunning -= 1;
      this.admitBulk();
    }
  }

  /**
   * A running bulk task at a point where it holds nothing others need: while the priority lane
   * has work and more than the limit of bulk tasks run, it stops counting as running and waits
   * to be admitted again. Undefined when it may go on at once (the common case, no extra turn).
   */
  checkpoint(): Promise<void> | undefined {
    if (this.priorityRunning === 0 || this.bulkRunning <= this.bulkLimitBehindPriority) {
      return undefined;
    }
    this.bulkRunning -= 1;
    return new Promise<void>((resolve) => this.bulkParked.push(resolve));
  }

  private bulkMayStart(): boolean {
    return this.priorityRunning === 0 || this.bulkRunning < this.bulkLimitBehindPriority;
  }

  /**
   * Lets bulk tasks go on for as long as the rule allows: those that stepped aside first (their
   * records are claimed already), then new ones, oldest first.
   */
  private admitBulk(): void {
    while ((this.bulkParked.length > 0 || this.bulkWaiters.length > 0) && this.bulkMayStart()) {
      this.bulkRunning += 1;
      (this.bulkParked.shift() ?? this.bulkWaiters.shift())!();
    }
  }
}
