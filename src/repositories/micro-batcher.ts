/**
 * Coalesces concurrent calls into one bulk operation: a call waits until the batch is flushed
 * (on the next turn of the event loop, or `windowMs` after the first call of the batch, or at
 * once when `maxSize` calls are waiting), the bulk operation runs once for all of them, and each
 * caller gets its own result or error. While `maxInFlight` batches are running, calls wait and
 * the next batch leaves as soon as one of them ends (group commit): under load a batch grows to
 * what arrived during one round trip, instead of every turn sending its own small statement. A
 * bulk operation that throws rejects every caller with its error, so each caller's work is
 * retried exactly as if its own statement had failed.
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
  /** Batches running at once; more calls wait for one of them to end. Unlimited when absent. */
  readonly maxInFlight?: number;
  /**
   * Gives each batcher, by its operation's name, what to call with every call's wait for its
   * answer in seconds (the batch filling, a free slot, the bulk operation): where a command's
   * time goes besides waiting in Kafka and for the provider.
   */
  readonly observe?: (operation: string) => (seconds: number) => void;
}

/** Nest injection token for the storage batching settings (STORAGE_BATCH_WINDOW_MS, _MAX_SIZE). */
export const STORAGE_BATCHING = Symbol('StorageBatching');

/**
 * Next turn of the event loop, at most 500 calls, two batches of a kind at once: no latency added
 * at low load, and under load a batch carries what arrived while the previous two ran.
 */
export const DEFAULT_BATCHING: BatchingOptions = { windowMs: 0, maxSize: 500, maxInFlight: 2 };

interface Waiting<I, O> {
  readonly input: I;
  readonly calledAt: number;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export class MicroBatcher<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly record: ((seconds: number) => void) | undefined;

  /**
   * `run` gets the inputs in the order they were called and answers one outcome per input, in
   * that order. `operation` names the batcher to `options.observe`.
   */
  constructor(
    private readonly run: (inputs: readonly I[]) => Promise<ReadonlyArray<BatchOutcome<O>>>,
    private readonly options: BatchingOptions = DEFAULT_BATCHING,
    operation = 'unnamed',
  ) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) {
      throw new RangeError(`batch maxSize must be a positive integer, got ${options.maxSize}`);
    }
    if (!Number.isFinite(options.windowMs) || options.windowMs < 0) {
      throw new RangeError(`batch windowMs must be zero or more, got ${options.windowMs}`);
    }
    this.maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
    if (
      this.maxInFlight !== Number.POSITIVE_INFINITY &&
      !(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)
    ) {
      throw new RangeError(
        `batch maxInFlight must be a positive integer, got ${options.maxInFlight}`,
      );
    }
    this.record = options.observe?.(operation);
  }

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, calledAt: performance.now(), resolve, reject });
      // At the limit, the end of a running batch sends this one.
      if (this.inFlight >= this.maxInFlight) return;
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
    const batch = this.waiting.splice(0, this.options.maxSize);
    if (batch.length === 0) return;
    this.inFlight += 1;
    void this.settle(batch);
  }

  /** A batch ended: what waited behind a full limit leaves now, its wait counting as the window. */
  private ended(): void {
    const wasFull = this.inFlight >= this.maxInFlight;
    this.inFlight -= 1;
    if (wasFull && this.waiting.length > 0) this.flush();
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
      this.ended();
      this.recordWaits(batch);
      for (const call of batch) call.reject(error);
      return;
    }
    this.ended();
    this.recordWaits(batch);
    batch.forEach((call, index) => {
      const outcome = outcomes[index]!;
      if ('error' in outcome) call.reject(outcome.error);
      else call.resolve(outcome.value);
    });
  }

  private recordWaits(batch: ReadonlyArray<Waiting<I, O>>): void {
    if (this.record === undefined) return;
    const now = performance.now();
    for (const call of batch) this.record((now - call.calledAt) / 1000);
  }
}
