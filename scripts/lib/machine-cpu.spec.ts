import { existsSync, readFileSync } from 'node:fs';
import {
  parseMachineTicks,
  parseProcessStat,
  parseSchedstat,
  readMachineCpu,
  readMainThreadSchedule,
  readThreadTicks,
  roleOf,
  scheduleSharesBetween,
  splitBetween,
  threadKindOf,
  threadSplitBetween,
  type MachineCpuReading,
} from './machine-cpu';

const roles = { gatewayPid: 100, benchPid: 200 };

const reading = (
  at: number,
  busyTicks: number,
  processes: Array<[number, string, number, number?]>,
  stealTicks = 0,
): MachineCpuReading => ({
  at,
  busyTicks,
  stealTicks,
  processes: new Map(
    processes.map(([pid, command, ticks, startedAt = 1]) => [pid, { command, ticks, startedAt }]),
  ),
});

describe('roleOf', () => {
  it.each([
    [100, 'node', 'gateway'],
    [200, 'node', 'bench'],
    [300, 'postgres', 'PostgreSQL'],
    [301, 'redis-server', 'Redis'],
    [302, 'java', 'broker'],
    [303, 'node', 'other'],
    [304, 'sshd', 'other'],
  ])('pid %i named %s is %s', (pid, command, role) => {
    expect(roleOf(pid, command, roles)).toBe(role);
  });
});

describe('splitBetween', () => {
  it('turns each role’s ticks over the window into cores, at 100 ticks a second', () => {
    const before = reading(
      0,
      1000,
      [
        [100, 'node', 500],
        [200, 'node', 50],
        [300, 'postgres', 10],
        [301, 'postgres', 20],
        [400, 'java', 70],
      ],
      40,
    );
    const after = reading(
      2000,
      1340,
      [
        [100, 'node', 660],
        [200, 'node', 90],
        [300, 'postgres', 40],
        [301, 'postgres', 50],
        [400, 'java', 80],
        // Started within the window: counted from zero.
        [500, 'postgres', 20],
      ],
      100,
    );
    const split = splitBetween(before, after, roles, 100, 2);
    expect(split.seconds).toBe(2);
    expect(split.cores.gateway).toBeCloseTo(0.8);
    expect(split.cores.bench).toBeCloseTo(0.2);
    expect(split.cores.PostgreSQL).toBeCloseTo(0.4);
    expect(split.cores.broker).toBeCloseTo(0.05);
    expect(split.cores.Redis).toBe(0);
    expect(split.busyCores).toBeCloseTo(1.7);
    expect(split.stealCores).toBeCloseTo(0.3);
    expect(split.availableCores).toBe(2);
    expect(split.busiestOthers).toEqual([]);
  });

  it('counts a reused pid from zero, whatever program it now runs', () => {
    const before = reading(0, 0, [
      [300, 'postgres', 900, 10],
      [301, 'postgres', 500, 20],
    ]);
    const after = reading(1000, 0, [
      [300, 'sshd', 30, 70],
      // A new backend that got an old backend's pid: same name, a later start.
      [301, 'postgres', 40, 80],
    ]);
    const split = splitBetween(before, after, roles, 100, 2);
    expect(split.cores.PostgreSQL).toBeCloseTo(0.4);
    expect(split.cores.other).toBeCloseTo(0.3);
    expect(split.busiestOthers).toEqual([{ command: 'sshd', cores: 0.3 }]);
  });

  it('names the three busiest other commands, summed over their processes', () => {
    const before = reading(0, 0, []);
    const after = reading(1000, 0, [
      [1, 'kdamond.0', 10],
      [2, 'beam.smp', 30],
      [3, 'beam.smp', 30],
      [4, 'sshd', 20],
      [5, 'cron', 5],
    ]);
    expect(splitBetween(before, after, roles, 100, 2).busiestOthers).toEqual([
      { command: 'beam.smp', cores: 0.6 },
      { command: 'sshd', cores: 0.2 },
      { command: 'kdamond.0', cores: 0.1 },
    ]);
  });
});

describe('parseProcessStat', () => {
  it('reads the command, even with spaces and parentheses, and utime + stime', () => {
    const stat =
      '4242 (Web (Content) x) S 1 4242 4242 0 -1 4194560 1161 0 0 0 713 289 0 0 20 0 11 0 2871 0';
    expect(parseProcessStat(stat)).toEqual({
      command: 'Web (Content) x',
      ticks: 1002,
      startedAt: 2871,
    });
  });

  it('answers undefined for a line that is not a stat line', () => {
    expect(parseProcessStat('nonsense')).toBeUndefined();
  });
});

describe('parseMachineTicks', () => {
  it('sums all but idle and iowait as busy, and reads steal apart', () => {
    const procStat = 'cpu  100 5 40 9000 30 1 2 3 0 0\ncpu0 50 2 20 4500 15 0 1 1 0 0\n';
    expect(parseMachineTicks(procStat)).toEqual({
      busyTicks: 100 + 5 + 40 + 1 + 2 + 3,
      stealTicks: 3,
    });
  });
});

describe('readMachineCpu', () => {
  it('finds this very process and its CPU time on this machine', () => {
    const now = readMachineCpu();
    const self = now.processes.get(process.pid);
    // Node 24 names its main thread, so the kernel's name is not "node".
    expect(self?.command).toBe(readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim());
    expect(self?.ticks).toBeGreaterThan(0);
    expect(now.busyTicks).toBeGreaterThan(0);
  });
});

describe('parseSchedstat', () => {
  it('reads the time on a CPU and the time runnable, in nanoseconds', () => {
    expect(parseSchedstat('3610000000 1280000000 3165\n', 5)).toEqual({
      at: 5,
      runningNs: 3_610_000_000,
      waitingNs: 1_280_000_000,
    });
  });

  it('answers undefined for text that is not a schedstat line', () => {
    expect(parseSchedstat('', 0)).toBeUndefined();
    expect(parseSchedstat('x y z', 0)).toBeUndefined();
  });
});

describe('scheduleSharesBetween', () => {
  it('splits a window into running, waiting for a CPU and idle', () => {
    const before = { at: 1_000, runningNs: 1e9, waitingNs: 2e9 };
    const after = { at: 6_000, runningNs: 1e9 + 3.6e9, waitingNs: 2e9 + 1.3e9 };
    const shares = scheduleSharesBetween(before, after);
    expect(shares.running).toBeCloseTo(0.72, 5);
    expect(shares.waiting).toBeCloseTo(0.26, 5);
    expect(shares.idle).toBeCloseTo(0.02, 5);
  });

  it('never reports a negative idle share when the counters run ahead of the clock', () => {
    const shares = scheduleSharesBetween(
      { at: 0, runningNs: 0, waitingNs: 0 },
      { at: 1_000, runningNs: 0.8e9, waitingNs: 0.3e9 },
    );
    expect(shares.idle).toBe(0);
  });
});

describe('readMainThreadSchedule', () => {
  // Some kernels (and sandboxes) keep no schedstat; the benchmark then prints n/a.
  const withSchedstat = existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`)
    ? it
    : it.skip;

  withSchedstat('reads this process’s main thread, whose time on a CPU grows as it works', () => {
    const before = readMainThreadSchedule(process.pid);
    let spin = 0;
    for (const end = Date.now() + 30; Date.now() < end;) spin += 1;
    const after = readMainThreadSchedule(process.pid);
    expect(spin).toBeGreaterThan(0);
    expect(before).toBeDefined();
    expect(after!.runningNs).toBeGreaterThan(before!.runningNs);
  });

  it('answers undefined for a process that does not exist', () => {
    expect(readMainThreadSchedule(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('threadKindOf', () => {
  it.each([
    [100, 'MainThread', 'main'],
    [101, 'V8Worker', 'V8 helpers'],
    [102, 'libuv-worker', 'libuv pool'],
    [103, 'SignalInspector', 'other'],
    [104, 'DelayedTaskSche', 'other'],
    // A main thread renamed (process.title) is still the one whose tid is the pid.
    [100, 'omnigate', 'main'],
  ])('thread %i named %s is %s', (tid, name, kind) => {
    expect(threadKindOf(100, tid, name)).toBe(kind);
  });
});

describe('threadSplitBetween', () => {
  const ticks = (entries: Array<[number, string, number, number?]>) =>
    new Map(
      entries.map(([tid, command, t, startedAt = 1]) => [tid, { command, ticks: t, startedAt }]),
    );

  it('turns each kind of thread’s ticks over a window into cores', () => {
    const before = ticks([
      [100, 'MainThread', 1_000],
      [101, 'V8Worker', 200],
      [102, 'V8Worker', 300],
      [103, 'libuv-worker', 10],
    ]);
    const after = ticks([
      [100, 'MainThread', 1_600],
      [101, 'V8Worker', 300],
      [102, 'V8Worker', 450],
      [103, 'libuv-worker', 10],
      // started within the window: counted from zero
      [104, 'SignalInspector', 20, 9],
    ]);
    const cores = threadSplitBetween(100, before, after, 100, 10);
    expect(cores.main).toBeCloseTo(0.6, 5);
    expect(cores['V8 helpers']).toBeCloseTo(0.25, 5);
    expect(cores['libuv pool']).toBe(0);
    expect(cores.other).toBeCloseTo(0.02, 5);
  });

  it('counts a reused tid as a new thread, and an empty window as no use', () => {
    const before = ticks([[101, 'V8Worker', 500, 1]]);
    const after = ticks([[101, 'V8Worker', 40, 7]]);
    expect(threadSplitBetween(100, before, after, 100, 2)['V8 helpers']).toBeCloseTo(0.2, 5);
    expect(threadSplitBetween(100, before, after, 100, 0)['V8 helpers']).toBe(0);
  });
});

describe('readThreadTicks', () => {
  it('reads every thread of this process, its own main thread among them', () => {
    const threads = readThreadTicks(process.pid);
    expect(threads?.get(process.pid)).toBeDefined();
    expect([...threads!.values()].every((thread) => Number.isFinite(thread.ticks))).toBe(true);
    // node always runs V8's helper threads beside the main one
    expect(
      [...threads!].some(
        ([tid, thread]) => threadKindOf(process.pid, tid, thread.command) === 'V8 helpers',
      ),
    ).toBe(true);
  });

  it('answers undefined for a process that does not exist', () => {
    expect(readThreadTicks(2 ** 22 + 1)).toBeUndefined();
  });
});
