import { MicroBatcher, type BatchOutcome } from './micro-batcher';

/** A bulk operation that records each batch it ran and doubles its inputs. */
function doubling() {
  const batches: number[][] = [];
  const run = (inputs: readonly number[]): Promise<Array<BatchOutcome<number>>> => {
    batches.push([...inputs]);
    return Promise.resolve(inputs.map((input) => ({ value: input * 2 })));
  };
  return { batches, run };
}

describe('MicroBatcher', () => {
  it('runs the calls of one turn of the event loop as one batch, each caller getting its own result', async () => {
    const { batches, run } = doubling();
    const batcher = new MicroBatcher(run);
    const results = await Promise.all([1, 2, 3].map((n) => batcher.call(n)));
    expect(results).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('runs a lone call on the next turn, without waiting for company', async () => {
    const { batches, run } = doubling();
    const batcher = new MicroBatcher(run, { windowMs: 0, maxSize: 500 });
    const answer = batcher.call(7);
    // Not a timing: the batch has run by the check phase the call itself was made in.
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[7]]);
    await expect(answer).resolves.toBe(14);
  });

  it('flushes at once when maxSize calls wait, and the rest in the next batch', async () => {
    const { batches, run } = doubling();
    const batcher = new MicroBatcher(run, { windowMs: 10_000, maxSize: 2 });
    const first = [batcher.call(1), batcher.call(2)];
    const third = batcher.call(3);
    await expect(Promise.all(first)).resolves.toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
    const fourth = batcher.call(4);
    await expect(Promise.all([third, fourth])).resolves.toEqual([6, 8]);
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('collects calls for windowMs after the first one', async () => {
    const { batches, run } = doubling();
    const batcher = new MicroBatcher(run, { windowMs: 20, maxSize: 500 });
    const first = batcher.call(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = batcher.call(2);
    await expect(Promise.all([first, second])).resolves.toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
  });

  it('rejects only the caller whose outcome is an error', async () => {
    const batcher = new MicroBatcher<number, number>((inputs) =>
      Promise.resolve(
        inputs.map((n) => (n === 2 ? { error: new Error(`no ${n}`) } : { value: n })),
      ),
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.call(n)));
    expect(results).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: new Error('no 2') },
      { status: 'fulfilled', value: 3 },
    ]);
  });

  it('rejects every caller with the error of a bulk operation that fails', async () => {
    const failure = Object.assign(new Error('connection terminated'), { code: '08006' });
    const batcher = new MicroBatcher<number, number>(() => Promise.reject(failure));
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.call(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const result of results) expect((result as PromiseRejectedResult).reason).toBe(failure);
  });

  it('rejects every caller when the bulk operation answers the wrong number of outcomes', async () => {
    const batcher = new MicroBatcher<number, number>(() => Promise.resolve([{ value: 1 }]));
    const results = await Promise.allSettled([1, 2].map((n) => batcher.call(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('keeps working after a failed batch', async () => {
    let fail = true;
    const batcher = new MicroBatcher<number, number>((inputs) => {
      if (fail) return Promise.reject(new Error('down'));
      return Promise.resolve(inputs.map((value) => ({ value })));
    });
    await expect(batcher.call(1)).rejects.toThrow('down');
    fail = false;
    await expect(batcher.call(2)).resolves.toBe(2);
  });

  it("tells its observer, under its operation's name, every call's wait for its answer, failed ones too", async () => {
    const waits: Array<[string, number]> = [];
    const observe = (operation: string) => (seconds: number) => waits.push([operation, seconds]);
    let fail = false;
    const batcher = new MicroBatcher<number, number>(
      async (inputs) => {
        // The bulk operation takes at least 20 ms, so each wait is at least that.
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (fail) throw new Error('down');
        return inputs.map((value) => ({ value }));
      },
      { windowMs: 0, maxSize: 500, maxInFlight: 1, observe },
      'claim',
    );
    // The third call waits behind the first batch for the one slot, then for its own.
    const first = [batcher.call(1), batcher.call(2)];
    await new Promise((resolve) => setImmediate(resolve));
    const third = batcher.call(3);
    await Promise.all([...first, third]);
    fail = true;
    await expect(batcher.call(4)).rejects.toThrow('down');

    expect(waits.map(([operation]) => operation)).toEqual(['claim', 'claim', 'claim', 'claim']);
    const [a, b, c, d] = waits.map(([, seconds]) => seconds);
    for (const seconds of [a, b, d]) expect(seconds).toBeGreaterThanOrEqual(0.019);
    expect(c).toBeGreaterThanOrEqual(0.035);
  });

  it('refuses a size below one, a negative window and an in-flight limit below one', () => {
    const { run } = doubling();
    expect(() => new MicroBatcher(run, { windowMs: 0, maxSize: 0 })).toThrow(RangeError);
    expect(() => new MicroBatcher(run, { windowMs: -1, maxSize: 1 })).toThrow(RangeError);
    expect(() => new MicroBatcher(run, { windowMs: 0, maxSize: 1, maxInFlight: 0 })).toThrow(
      RangeError,
    );
    expect(() => new MicroBatcher(run, { windowMs: 0, maxSize: 1, maxInFlight: 1.5 })).toThrow(
      RangeError,
    );
  });

  describe('with a limit of batches in flight (group commit)', () => {
    /** A bulk operation that ends each batch only when the test says so. */
    function held() {
      const batches: number[][] = [];
      const ends: Array<(fail?: Error) => void> = [];
      const run = (inputs: readonly number[]): Promise<Array<BatchOutcome<number>>> => {
        batches.push([...inputs]);
        return new Promise((resolve, reject) =>
          ends.push((fail) =>
            fail ? reject(fail) : resolve(inputs.map((input) => ({ value: input * 2 }))),
          ),
        );
      };
      return { batches, ends, run };
    }
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

    it('holds the calls made while the limit is reached and sends them together when a batch ends', async () => {
      const { batches, ends, run } = held();
      const batcher = new MicroBatcher(run, { windowMs: 0, maxSize: 500, maxInFlight: 1 });
      const first = batcher.call(1);
      await nextTurn();
      const waiting = [batcher.call(2)];
      await nextTurn();
      waiting.push(batcher.call(3));
      await nextTurn();
      // Turns went by, but the one batch allowed is still running: 2 and 3 wait for it.
      expect(batches).toEqual([[1]]);
      ends[0]!();
      await expect(first).resolves.toBe(2);
      expect(batches).toEqual([[1], [2, 3]]);
      ends[1]!();
      await expect(Promise.all(waiting)).resolves.toEqual([4, 6]);
    });

    it('runs up to the limit at once, and splits what waited into batches of maxSize', async () => {
      const { batches, ends, run } = held();
      const batcher = new MicroBatcher(run, { windowMs: 0, maxSize: 2, maxInFlight: 2 });
      const calls = [batcher.call(1)];
      await nextTurn();
      calls.push(batcher.call(2));
      await nextTurn();
      expect(batches).toEqual([[1], [2]]);
      calls.push(...[3, 4, 5, 6, 7].map((n) => batcher.call(n)));
      await nextTurn();
      expect(batches).toHaveLength(2);
      ends[0]!();
      await calls[0];
      expect(batches).toEqual([[1], [2], [3, 4]]);
      ends[1]!();
      await calls[1];
      expect(batches).toEqual([[1], [2], [3, 4], [5, 6]]);
      ends[2]!();
      ends[3]!();
      await Promise.all(calls.slice(2, 6));
      expect(batches).toEqual([[1], [2], [3, 4], [5, 6], [7]]);
      ends[4]!();
      await expect(Promise.all(calls)).resolves.toEqual([2, 4, 6, 8, 10, 12, 14]);
    });

    it('frees the place of a batch that failed', async () => {
      const { batches, ends, run } = held();
      const batcher = new MicroBatcher(run, { windowMs: 0, maxSize: 500, maxInFlight: 1 });
      const failing = batcher.call(1);
      await nextTurn();
      const next = batcher.call(2);
      ends[0]!(new Error('down'));
      await expect(failing).rejects.toThrow('down');
      expect(batches).toEqual([[1], [2]]);
      ends[1]!();
      await expect(next).resolves.toBe(4);
    });

    it('starts no window for a call made at the limit: it waits for the running batch', async () => {
      const { batches, ends, run } = held();
      const batcher = new MicroBatcher(run, { windowMs: 5, maxSize: 2, maxInFlight: 1 });
      // Below the limit: 3 starts a 5 ms window, and 4 fills the batch of two at once.
      const windowed = batcher.call(3);
      const full = [batcher.call(4)];
      await nextTurn();
      expect(batches).toEqual([[3, 4]]);
      full.push(batcher.call(5));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(batches).toEqual([[3, 4]]);
      ends[0]!();
      await Promise.all([windowed, full[0]]);
      expect(batches).toEqual([[3, 4], [5]]);
      ends[1]!();
      await expect(full[1]).resolves.toBe(10);
    });
  });
});
