/**
 * Tracks which offsets of one fetched batch have finished and answers the highest offset below
 * which everything is finished. Only that offset may be committed: committing a later one would
 * skip unfinished work on restart. Offsets are taken from the batch itself (not offset + 1) because
 * compaction and transaction markers leave gaps.
 */
export class ContiguousOffsets {
  private readonly order: string[];
  private readonly done = new Set<string>();
  private cursor = -1;
  private highest: bigint | undefined;

  constructor(offsetsInBatchOrder: readonly string[]) {
    this.order = [...offsetsInBatchOrder];
  }

  /** Marks an offset finished; returns the new commit point when it advanced, else undefined. */
  markDone(offset: string): string | undefined {
    this.done.add(offset);
    const value = BigInt(offset);
    if (this.highest === undefined || value > this.highest) this.highest = value;
    const before = this.cursor;
    while (this.cursor + 1 < this.order.length && this.done.has(this.order[this.cursor + 1]!)) {
      this.cursor += 1;
    }
    return this.cursor > before ? this.order[this.cursor] : undefined;
  }

  /** The highest offset with every earlier offset of the batch finished, if any. */
  get commitPoint(): string | undefined {
    return this.cursor >= 0 ? this.order[this.cursor] : undefined;
  }

  /**
   * Whether an offset lies below the highest finished one: leaving it undone would keep every
   * finished offset above it from being committed.
   */
  isGapBelowFinished(offset: string): boolean {
    return this.highest !== undefined && BigInt(offset) < this.highest;
  }

  get finishedCount(): number {
    return this.done.size;
  }

  get allDone(): boolean {
    return this.cursor === this.order.length - 1;
  }
}
