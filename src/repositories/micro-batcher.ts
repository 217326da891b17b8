/**
 * Coalesces concurrent calls into one bulk operation: a call waits until the batch is flushed
 * (on the next turn of the event loop, or `windowMs` after the first call of the batch, or at
 * once when `maxSize` calls are waiting), the bulk operation runs once for all of them, and each
 * caller gets its own result or error. A bulk operation that throws rejects every caller with its
 * error, so each caller's work is retried exactly as if its own statement had failed.
 *
 * Callers keep their per-call flow (and so their guarantees); only the round trips are shared.
 */

/** What the bulk operation answers for one call: its value, or the error that call alone gets. */
export type BatchOutcome<O> = { readonly value: O } | { readonly error: unknown };

export interface BatchingOptions {
  /** 0: flush on the next turn of the event loop; otherwise wait this long after the first call. */
  readonly windowMs: number;
  /** A batch this large is flushed at once. */
  readonly maxSize: number;
}

/** Nest injection token for the storage batching settings (STORAGE_BATCH_WINDOW_MS, _MAX_SIZE). */
export const STORAGE_BATCHING = Symbol('StorageBatching');

/** Next turn of the event loop, at most 500 calls: no latency added at low load. */
export const DEFAULT_BATCHING: BatchingOptions = { windowMs: 0, maxSize: 500 };

interface Waiting<I, O> {
  readonly input: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export class MicroBatcher<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  /**
   * `run` gets the inputs in the order they were called and answers one outcome per input, in
   * that order.
   */
  constructor(
    private readonly run: (inputs: readonly I[]) => Promise<ReadonlyArray<BatchOutcome<O>>>,
    private readonly options: BatchingOptions = DEFAULT_BATCHING,
  ) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) {
      throw new RangeError(`batch maxSize must be a positive integer, got ${options.maxSize}`);
    }
    if (!Number.isFinite(options.windowMs) || options.windowMs < 0) {
      throw new RangeError(`batch windowMs must be zero or more, got ${options.windowMs}`);
    }
  }

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      if (this.waiting.length >= this.options.maxSize) this.flush();
      else if (this.timer === undefined) {
        this.timer =
          this.options.windowMs === 0
            ? setImmediate(() => this.flush())
            : setTimeout(() => this.flush(), this.options.windowMs);
      }
    });
  }

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    void this.settle(batch);
  }

  private async settle(batch: ReadonlyArray<Waiting<I, O>>): Promise<void> {
    let outcomes: ReadonlyArray<BatchOutcome<O>>;
    try {
      outcomes = await this.run(batch.map((call) => call.input));
      if (outcomes.length !== batch.length) {
        throw new Error(
          `a bulk operation answered ${outcomes.length} outcomes for ${batch.length} calls`,
        );
      }
    } catch (error) {
      for (const call of batch) call.reject(error);
      return;
    }
    batch.forEach((call, index) => {
      const outcome = outcomes[index]!;
      if ('error' in outcome) call.reject(outcome.error);
      else call.resolve(outcome.value);
    });
  }
}
