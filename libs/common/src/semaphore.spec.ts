import { Semaphore } from './semaphore';

describe('Semaphore', () => {
  it('never lets more than its capacity run at once', async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let peak = 0;
    const task = async (): Promise<void> => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running -= 1;
    };
    await Promise.all(Array.from({ length: 20 }, () => semaphore.run(task)));
    expect(peak).toBe(3);
    expect(semaphore.inUse).toBe(0);
  });

  it('releases the slot when a task throws', async () => {
    const semaphore = new Semaphore(1);
    await expect(semaphore.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(semaphore.inUse).toBe(0);
  });

  it('rejects a capacity below one', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
