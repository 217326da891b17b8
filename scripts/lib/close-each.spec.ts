import { closeAfterFailure, closeEach } from './close-each';

describe('closeEach', () => {
  it('runs the steps in order, awaiting each before the next', async () => {
    const order: string[] = [];
    await closeEach([
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push('slow first');
      },
      () => order.push('second'),
    ]);
    expect(order).toEqual(['slow first', 'second']);
  });

  it('runs the steps after one that throws, then throws that error itself', async () => {
    const closed: string[] = [];
    const refused = new Error('broker gone');
    await expect(
      closeEach([
        () => closed.push('producer'),
        () => Promise.reject(refused),
        () => closed.push('server'),
      ]),
    ).rejects.toBe(refused);
    expect(closed).toEqual(['producer', 'server']);
  });

  it('throws every failure in one AggregateError when several steps fail', async () => {
    const first = new Error('first');
    const second = new Error('second');
    const failure: unknown = await closeEach(
      [
        () => {
          throw first;
        },
        () => Promise.reject(second),
      ],
      'closing the ceiling',
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AggregateError);
    expect((failure as AggregateError).errors).toEqual([first, second]);
    expect((failure as AggregateError).message).toBe('2 steps failed while closing the ceiling');
  });

  it('resolves when every step succeeds', async () => {
    await expect(closeEach([() => undefined, () => Promise.resolve()])).resolves.toBeUndefined();
  });
});

describe('closeAfterFailure', () => {
  it('closes every step, then throws the failure itself', async () => {
    const closed: string[] = [];
    const failure = new Error('the gateway exited with 9');
    await expect(
      closeAfterFailure(
        failure,
        [() => closed.push('counters'), () => closed.push('watcher')],
        'starting the gateway',
      ),
    ).rejects.toBe(failure);
    expect(closed).toEqual(['counters', 'watcher']);
  });

  it('throws the failure first and the close that failed after it, in one AggregateError', async () => {
    const failure = new Error('subscribe refused');
    const closing = new Error('disconnect refused');
    const thrown: unknown = await closeAfterFailure(
      failure,
      [() => Promise.reject(closing)],
      'starting a receipt reader',
    ).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors).toEqual([failure, closing]);
    expect((thrown as AggregateError).message).toBe(
      'starting a receipt reader failed, and so did closing after it',
    );
  });
});
