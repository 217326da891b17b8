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

  it('refuses a size below one and a negative window', () => {
    const { run } = doubling();
    expect(() => new MicroBatcher(run, { windowMs: 0, maxSize: 0 })).toThrow(RangeError);
    expect(() => new MicroBatcher(run, { windowMs: -1, maxSize: 1 })).toThrow(RangeError);
  });
});
