/**
 * `node dist/scripts/cpu-profile-top.js [--top N] FILE.cpuprofile...`: where a gateway's CPU went.
 *
 * Reads V8 CPU profiles (`node --cpu-prof`, e.g. from `npm run bench:lanes -- --cpu-prof DIR`) and
 * prints two tables, summed over the files given: the top N functions by self time, and the top N
 * owners of code — a package under node_modules (scoped packages keep their scope), a directory of
 * ours (src/services, libs/channels/src/adapters, …), Node's own internals, V8's builtins or its
 * pseudo-frames ((garbage collector), (program)). Self time is the time a function was on top of
 * the stack, so the rows add up to the profile's busy time. An owner's table also has a "caused"
 * column: its self time plus that of the Node internals and V8 builtins it called (a socket write
 * under pg counts for pg), which says whose work the native time was.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const ROOT = resolve(__dirname, '..', '..');
const NODE_INTERNALS = 'node (internals)';
const V8_BUILTINS = '(V8 builtins)';

function usage(problem: string): never {
  console.error(`${problem}\nusage: cpu-profile-top [--top N (10)] FILE.cpuprofile...`);
  process.exit(64);
}

/** A path under the repository, or the URL as it came (node:internal/…, a path elsewhere). */
function localPath(url: string): string {
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  if (!path.startsWith('/')) return path;
  const inside = relative(ROOT, path);
  return inside.startsWith('..') ? path : inside;
}

/** Who owns the code at a URL: a package, one of our directories, Node or V8. */
export function ownerOf(frame: CallFrame): string {
  if (frame.url === '') {
    // V8's pseudo-frames, and builtins (JSON.parse, RegExp exec, …) that have no script.
    return frame.functionName.startsWith('(') ? frame.functionName : V8_BUILTINS;
  }
  const path = localPath(frame.url);
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const [first, second] = path.slice(modules + 'node_modules/'.length).split('/');
    return first!.startsWith('@') ? `${first}/${second}` : first!;
  }
  if (path.startsWith('node:')) return NODE_INTERNALS;
  // Ours, compiled: dist/src/services/x.js → src/services; dist/libs/channels/src/adapters/y.js →
  // libs/channels/src/adapters.
  const parts = path.replace(/^dist\//, '').split('/');
  return parts.slice(0, -1).join('/') || path;
}

function functionLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  const path = localPath(frame.url).replace(/^.*node_modules\//, '');
  return `${name} ${path}:${frame.lineNumber + 1}`;
}

interface Totals {
  totalUs: number;
  readonly byFunction: Map<string, number>;
  readonly byOwner: Map<string, number>;
  /** Owner → its self time plus the Node and V8 work below it. */
  readonly caused: Map<string, number>;
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

export function tally(profiles: readonly CpuProfile[]): Totals {
  const totals: Totals = {
    totalUs: 0,
    byFunction: new Map(),
    byOwner: new Map(),
    caused: new Map(),
  };
  for (const profile of profiles) {
    const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parents.set(child, node.id);
    }
    /** The first owner up the stack that is neither Node's nor V8's; the frame's own if none. */
    const causeOf = (id: number): string => {
      const own = ownerOf(frames.get(id)!);
      for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
        const owner = ownerOf(frames.get(at)!);
        if (owner !== NODE_INTERNALS && owner !== V8_BUILTINS) {
          return owner === '(root)' ? own : owner;
        }
      }
      return own;
    };
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
    for (let i = 0; i < profile.samples.length; i += 1) {
      const frame = frames.get(profile.samples[i]!);
      if (!frame) continue;
      const us =
        i + 1 < profile.timeDeltas.length
          ? profile.timeDeltas[i + 1]!
          : Math.max(0, profile.endTime - profile.startTime - sum(profile.timeDeltas));
      totals.totalUs += us;
      add(totals.byFunction, functionLabel(frame), us);
      add(totals.byOwner, ownerOf(frame), us);
      add(totals.caused, causeOf(profile.samples[i]!), us);
    }
  }
  return totals;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

const cell = (us: number, totalUs: number): string =>
  `${(us / 1000).toFixed(0).padStart(9)} ${((us / totalUs) * 100).toFixed(1).padStart(6)}`;

function table(title: string, rows: Map<string, number>, totalUs: number, top: number): void {
  const sorted = [...rows].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`\n${title}`);
  console.log(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  name`);
  for (const [name, us] of sorted) console.log(`${cell(us, totalUs)}  ${name}`);
}

/** Owners by the time they caused, with their self time beside it. */
function ownerTable(totals: Totals, totalUs: number, top: number): void {
  const sorted = [...totals.caused].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(
    `\ntop ${top} by package or directory (caused = self + the Node and V8 work it called)`,
  );
  console.log(
    `${'caused ms'.padStart(9)} ${'%'.padStart(6)} ${'self ms'.padStart(9)} ${'%'.padStart(6)}  name`,
  );
  for (const [name, us] of sorted) {
    console.log(`${cell(us, totalUs)} ${cell(totals.byOwner.get(name) ?? 0, totalUs)}  ${name}`);
  }
}

function main(): void {
  const argv = process.argv.slice(2);
  let top = 10;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--top') {
      const raw = argv[++i];
      if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1)
        usage('--top must be a whole number ≥ 1');
      top = Number(raw);
    } else if (argv[i]!.startsWith('--')) usage(`unknown flag ${argv[i]}`);
    else files.push(argv[i]!);
  }
  if (files.length === 0) usage('no profile given');
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  const totals = tally(profiles);
  // Idle time is the event loop waiting, not CPU: report shares of the busy time.
  const idleUs = totals.byOwner.get('(idle)') ?? 0;
  const busyUs = totals.totalUs - idleUs;
  totals.byFunction.delete('(idle)');
  totals.byOwner.delete('(idle)');
  totals.caused.delete('(idle)');
  console.log(
    `${files.length} profile(s): ${(totals.totalUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s busy (shares below are of the busy time)`,
  );
  table(`top ${top} functions by self time`, totals.byFunction, busyUs, top);
  ownerTable(totals, busyUs, top);
}

if (require.main === module) main();
