import { LanePrecedence } from './lane-precedence';

/** A task that runs until its `finish` is called. */
function openTask(): { run: () => Promise<void>; finish: () => void; started: boolean } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const task = {
    started: false,
    finish: () => finish(),
    run: async () => {
      task.started = true;
      await done;
    },
  };
  return task;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LanePrecedence', () => {
  it('lets every bulk task start while the priority lane is idle', async () => {
    const lanes = new LanePrecedence(2);
    const tasks = Array.from({ length: 10 }, openTask);
    const running = tasks.map((task) => lanes.bulk(task.run));
    await turn();
    expect(tasks.every((task) => task.started)).toBe(true);
    expect(lanes.bulkInFlight).toBe(10);
    tasks.forEach((task) => task.finish());
    await Promise.all(running);
    expect(lanes.bulkInFlight).toBe(0);
  });

  it('holds new bulk tasks at the limit while a priority task runs, and resumes them after', async () => {
    const lanes = new LanePrecedence(2);
    const first = [openTask(), openTask(), openTask()];
    const firstRuns = first.map((task) => lanes.bulk(task.run));
    const otp = openTask();
    const otpRun = lanes.priority(otp.run);
    await turn();
    expect(otp.started).toBe(true);

    // Three bulk tasks already run: above the limit of two, so the next ones wait.
    const later = [openTask(), openTask(), openTask()];
    const laterRuns = later.map((task) => lanes.bulk(task.run));
    await turn();
    expect(later.map((task) => task.started)).toEqual([false, false, false]);
    expect(lanes.bulkWaiting).toBe(3);

    // Two finish: one running, below the limit, so exactly one waiter (the oldest) starts.
    first[0]!.finish();
    first[1]!.finish();
    await turn();
    expect(later.map((task) => task.started)).toEqual([true, false, false]);
    expect(lanes.bulkInFlight).toBe(2);

    // The priority lane goes idle: every waiter starts.
    otp.finish();
    await otpRun;
    await turn();
    expect(later.map((task) => task.started)).toEqual([true, true, true]);

    first[2]!.finish();
    later.forEach((task) => task.finish());
    await Promise.all([...firstRuns, ...laterRuns]);
    expect(lanes.bulkInFlight).toBe(0);
    expect(lanes.priorityInFlight).toBe(0);
  });

  it('never holds the priority lane back, however much bulk work runs', async () => {
    const lanes = new LanePrecedence(1);
    const bulk = Array.from({ length: 5 }, openTask);
    const bulkRuns = bulk.map((task) => lanes.bulk(task.run));
    const priority = Array.from({ length: 5 }, openTask);
    const priorityRuns = priority.map((task) => lanes.priority(task.run));
    await turn();
    expect(priority.every((task) => task.started)).toBe(true);
    [...bulk, ...priority].forEach((task) => task.finish());
    await Promise.all([...bulkRuns, ...priorityRuns]);
  });

  it('frees the place of a task that throws', async () => {
    const lanes = new LanePrecedence(1);
    await expect(lanes.bulk(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lanes.priority(() => Promise.reject(new Error('bang')))).rejects.toThrow('bang');
    expect(lanes.bulkInFlight).toBe(0);
    expect(lanes.priorityInFlight).toBe(0);
  });

  it('rejects a limit below one', () => {
    expect(() => new LanePrecedence(0)).toThrow(RangeError);
  });
});
