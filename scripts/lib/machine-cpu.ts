/**
 * Where the machine's CPUs go during a benchmark phase: every process's CPU time from
 * /proc/<pid>/stat, grouped by role (the gateway, the benchmark process itself, PostgreSQL,
 * Redis, the broker, everything else), and the machine's busy and steal time from /proc/stat. On a
 * small machine the gateway shares its cores with everything it talks to, so its own figure alone
 * does not say which resource holds the run back.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** CPU ticks of one process, the name the kernel gives it, and when it started (in ticks). */
export interface ProcessTicks {
  readonly command: string;
  readonly ticks: number;
  /** Tells a reused pid from the process that had it before. */
  readonly startedAt: number;
}

export interface MachineCpuReading {
  readonly at: number;
  /** Ticks of every CPU not idle nor waiting for I/O, from the first line of /proc/stat. */
  readonly busyTicks: number;
  /** Of those, steal: ticks this virtual machine wanted a CPU and the host ran another. */
  readonly stealTicks: number;
  readonly processes: ReadonlyMap<number, ProcessTicks>;
}

export interface RolePids {
  readonly gatewayPid: number;
  readonly benchPid: number;
}

export const CPU_ROLES = ['gateway', 'PostgreSQL', 'bench', 'broker', 'Redis', 'other'] as const;
export type CpuRole = (typeof CPU_ROLES)[number];

/** Cores used per role over a window, and the machine's busy cores over the same window. */
export interface CpuSplit {
  readonly seconds: number;
  readonly cores: Readonly<Record<CpuRole, number>>;
  readonly busyCores: number;
  /** Cores the host gave other virtual machines while this one had work (inside busyCores). */
  readonly stealCores: number;
  readonly availableCores: number;
  /** The busiest commands among the others, by the kernel's name, busiest first. */
  readonly busiestOthers: ReadonlyArray<{ readonly command: string; readonly cores: number }>;
}

const BUSIEST_OTHERS = 3;

/** The role of one process: by pid for the two node processes, by command name for servers. */
export function roleOf(pid: number, command: string, roles: RolePids): CpuRole {
  if (pid === roles.gatewayPid) return 'gateway';
  if (pid === roles.benchPid) return 'bench';
  if (command === 'postgres' || command === 'postmaster') return 'PostgreSQL';
  if (command.startsWith('redis-server')) return 'Redis';
  // The local broker is the only Java process scripts/kafka.sh starts.
  if (command === 'java') return 'broker';
  return 'other';
}

/**
 * Cores used by each role between two readings. A process present only in the later reading
 * started within the window and is counted from zero; one that exited within it is not counted
 * (its time is gone from /proc), which the machine's busy figure still holds. The two are
 * counted apart (per process, and per CPU in /proc/stat), so the roles need not add up to it.
 */
export function splitBetween(
  before: MachineCpuReading,
  after: MachineCpuReading,
  roles: RolePids,
  ticksPerSecond: number,
  availableCores: number,
): CpuSplit {
  const seconds = (after.at - before.at) / 1000;
  const ticks: Record<CpuRole, number> = {
    gateway: 0,
    PostgreSQL: 0,
    bench: 0,
    broker: 0,
    Redis: 0,
    other: 0,
  };
  const others = new Map<string, number>();
  for (const [pid, later] of after.processes) {
    const used = ticksUsedSince(before.processes.get(pid), later);
    const role = roleOf(pid, later.command, roles);
    ticks[role] += used;
    if (role === 'other' && used > 0)
      others.set(later.command, (others.get(later.command) ?? 0) + used);
  }
  const toCores = (value: number) => (seconds > 0 ? value / ticksPerSecond / seconds : 0);
  const cores = Object.fromEntries(CPU_ROLES.map((role) => [role, toCores(ticks[role])])) as Record<
    CpuRole,
    number
  >;
  return {
    seconds,
    cores,
    busyCores: toCores(after.busyTicks - before.busyTicks),
    stealCores: toCores(after.stealTicks - before.stealTicks),
    availableCores,
    busiestOthers: [...others]
      .sort((a, b) => b[1] - a[1])
      .slice(0, BUSIEST_OTHERS)
      .map(([command, used]) => ({ command, cores: toCores(used) })),
  };
}

/**
 * Ticks a process (or thread) used since an earlier reading of the same id. An id reused within
 * the window is a new one, counted from zero; one absent before started within it.
 */
function ticksUsedSince(earlier: ProcessTicks | undefined, later: ProcessTicks): number {
  const start = earlier && earlier.startedAt === later.startedAt ? earlier.ticks : 0;
  return Math.max(0, later.ticks - start);
}

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second, in which /proc counts CPU time (asked once). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      // getconf missing: 100 is the Linux default
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Parses the part of /proc/<pid>/stat this needs: the command, utime + stime and starttime. */
export function parseProcessStat(stat: string): ProcessTicks | undefined {
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // Fields after "(comm)", which may itself hold spaces: state is the first, utime the 12th,
  // starttime the 20th.
  const fields = stat.slice(close + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const startedAt = Number(fields[19]);
  if (!Number.isFinite(ticks) || !Number.isFinite(startedAt)) return undefined;
  return { command: stat.slice(open + 1, close), ticks, startedAt };
}

/** Busy and steal ticks from the aggregate line of /proc/stat: busy is all but idle and iowait. */
export function parseMachineTicks(
  procStat: string,
): Pick<MachineCpuReading, 'busyTicks' | 'stealTicks'> {
  const line = procStat.split('\n', 1)[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user). Steal is
  // time this virtual machine wanted a CPU and the host gave it to another: busy, from here.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = values;
  return { busyTicks: user + nice + system + irq + softirq + steal, stealTicks: steal };
}

/**
 * The stat of every numbered entry of a /proc directory (`/proc` for processes,
 * `/proc/<pid>/task` for one process's threads), by id. One that ended between the listing and
 * the read is left out: its time is still in the machine's busy figure.
 */
function readTicksUnder(dir: string): Map<number, ProcessTicks> {
  const ticks = new Map<number, ProcessTicks>();
  for (const entry of readdirSync(dir)) {
    const id = Number(entry);
    if (!Number.isInteger(id) || id <= 0) continue;
    try {
      const parsed = parseProcessStat(readFileSync(`${dir}/${id}/stat`, 'utf8'));
      if (parsed) ticks.set(id, parsed);
    } catch {
      // ended between the listing and the read
    }
  }
  return ticks;
}

/** Reads every process's CPU time and the machine's busy time now. */
export function readMachineCpu(): MachineCpuReading {
  return {
    at: performance.now(),
    ...parseMachineTicks(readFileSync('/proc/stat', 'utf8')),
    processes: readTicksUnder('/proc'),
  };
}

/**
 * What a node process's threads do: its one JavaScript thread, V8's helpers (the collector's
 * marking, sweeping and scavenging, and the optimising compiler), libuv's pool (crypto, dns,
 * zlib, files), and the rest (the inspector's signal thread, V8's delayed tasks).
 */
export const THREAD_KINDS = ['main', 'V8 helpers', 'libuv pool', 'other'] as const;
export type ThreadKind = (typeof THREAD_KINDS)[number];

/** The kind of one thread of process `pid`, by its tid and the name node gives it. */
export function threadKindOf(pid: number, tid: number, name: string): ThreadKind {
  if (tid === pid) return 'main';
  if (name.startsWith('V8Worker')) return 'V8 helpers';
  if (name.startsWith('libuv-worker')) return 'libuv pool';
  return 'other';
}

/** CPU ticks of each thread of a process now, by tid; undefined once the process is gone. */
export function readThreadTicks(pid: number): ReadonlyMap<number, ProcessTicks> | undefined {
  try {
    return readTicksUnder(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
}

/**
 * Cores each kind of thread used over `seconds`, counted like splitBetween: a thread that
 * started within the window from zero, one that ended within it not at all.
 */
export function threadSplitBetween(
  pid: number,
  before: ReadonlyMap<number, ProcessTicks>,
  after: ReadonlyMap<number, ProcessTicks>,
  ticksPerSecond: number,
  seconds: number,
): Record<ThreadKind, number> {
  const cores = Object.fromEntries(THREAD_KINDS.map((kind) => [kind, 0])) as Record<
    ThreadKind,
    number
  >;
  if (seconds <= 0) return cores;
  for (const [tid, later] of after) {
    cores[threadKindOf(pid, tid, later.command)] +=
      ticksUsedSince(before.get(tid), later) / ticksPerSecond / seconds;
  }
  return cores;
}

/** One thread's time on a CPU and waiting in the run queue for one, in nanoseconds. */
export interface ThreadSchedule {
  readonly at: number;
  readonly runningNs: number;
  readonly waitingNs: number;
}

/** Shares of a window a thread spent on a CPU, runnable but waiting for one, and neither. */
export interface ScheduleShares {
  readonly running: number;
  readonly waiting: number;
  readonly idle: number;
}

/** Parses /proc/<pid>/task/<tid>/schedstat: time on a CPU, time runnable, timeslices. */
export function parseSchedstat(text: string, at: number): ThreadSchedule | undefined {
  const [running, waiting] = text.trim().split(/\s+/).map(Number);
  if (running === undefined || waiting === undefined || !Number.isFinite(running + waiting)) {
    return undefined;
  }
  return { at, runningNs: running, waitingNs: waiting };
}

/**
 * The scheduler's account of a process's main thread (its tid is the pid). Undefined where the
 * kernel keeps none (no CONFIG_SCHED_INFO) or the process is gone.
 */
export function readMainThreadSchedule(pid: number): ThreadSchedule | undefined {
  try {
    return parseSchedstat(
      readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8'),
      performance.now(),
    );
  } catch {
    return undefined;
  }
}

/**
 * How a thread spent a window. Waiting is what the CPU split cannot show: a node process's one
 * JavaScript thread may be held back by the cores being taken while the machine is not 100 % busy.
 */
export function scheduleSharesBetween(
  before: ThreadSchedule,
  after: ThreadSchedule,
): ScheduleShares {
  const windowNs = Math.max(1, (after.at - before.at) * 1e6);
  const running = (after.runningNs - before.runningNs) / windowNs;
  const waiting = (after.waitingNs - before.waitingNs) / windowNs;
  return { running, waiting, idle: Math.max(0, 1 - running - waiting) };
}
