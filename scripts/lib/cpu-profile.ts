/**
 * Time per function, or per package, in a V8 CPU profile (the .cpuprofile JSON `node --cpu-prof`
 * writes): each sample is charged the time until the next one, to the function at the top of the
 * stack then, or to the package that owns that stack.
 */

export interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    /** 0-based, -1 when unknown. */
    readonly lineNumber: number;
  };
  /** Callees' node ids; absent on a leaf. */
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  /** Microseconds since the previous sample (the first: since startTime). */
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  /** functionName url:line, e.g. `parse node:internal/url:12`; by package, its name (`pg`). */
  readonly frame: string;
  readonly selfMicros: number;
  readonly share: number;
}

function frameOf({ callFrame }: CpuProfileNode): string {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  return callFrame.lineNumber >= 0
    ? `${name} ${callFrame.url}:${callFrame.lineNumber + 1}`
    : `${name} ${callFrame.url}`;
}

/** The `top` frames by self time, largest first. */
export function topSelfTime(profile: CpuProfile, top: number): SelfTime[] {
  const frames = new Map(profile.nodes.map((node) => [node.id, frameOf(node)]));
  return largest(
    chargeSamples(profile, (nodeId) => frames.get(nodeId) ?? `(node ${nodeId})`),
    top,
  );
}

/**
 * The `top` owners by time: a sample is charged to the innermost frame on its stack that an npm
 * package or a folder of the build owns (`pg`, `@sendgrid/mail`, `libs/channels`, `src/services`),
 * so Node's own functions and native code count for the code that called them: a `writev` under
 * `pg` is pg's, an ECDH under `http_ece` is http_ece's. V8's own states ((idle), (garbage
 * collector), (program)) keep their names; a stack no package owns is `(node internals)`.
 */
export function topPackageTime(profile: CpuProfile, top: number): SelfTime[] {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const owners = new Map<number, string>();
  const ownerOf = (nodeId: number): string => {
    const known = owners.get(nodeId);
    if (known !== undefined) return known;
    const node = nodes.get(nodeId);
    const parent = parents.get(nodeId);
    let owner: string;
    if (!node) owner = `(node ${nodeId})`;
    else if (V8_STATES.has(node.callFrame.functionName)) owner = node.callFrame.functionName;
    else {
      owner =
        packageOf(node.callFrame.url) ??
        (parent === undefined ? '(node internals)' : ownerOf(parent));
    }
    owners.set(nodeId, owner);
    return owner;
  };
  return largest(chargeSamples(profile, ownerOf), top);
}

/** Samples V8 takes outside any JavaScript stack. */
const V8_STATES = new Set(['(idle)', '(garbage collector)', '(program)']);

/**
 * `pg` or `@scope/name` (the innermost node_modules); under a build's innermost dist, the folder
 * two levels down (`src/services`, `libs/channels`) or the file itself when it sits higher
 * (`src/main.js`).
 */
export function packageOf(url: string): string | undefined {
  const installed = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (installed) return installed[1];
  const built = /.*\/dist\/(.+)$/.exec(url);
  if (!built) return undefined;
  const path = built[1]!.split('/');
  return path.length > 2 ? `${path[0]}/${path[1]}` : path.join('/');
}

function chargeSamples(
  profile: CpuProfile,
  keyOf: (nodeId: number) => string,
): Map<string, number> {
  const totals = new Map<string, number>();
  let at = profile.startTime;
  const sampledAt = profile.timeDeltas.map((delta) => (at += delta));
  profile.samples.forEach((nodeId, i) => {
    const micros = Math.max(0, (sampledAt[i + 1] ?? profile.endTime) - sampledAt[i]!);
    const key = keyOf(nodeId);
    totals.set(key, (totals.get(key) ?? 0) + micros);
  });
  return totals;
}

function largest(totals: ReadonlyMap<string, number>, top: number): SelfTime[] {
  let all = 0;
  for (const micros of totals.values()) all += micros;
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, selfMicros]) => ({ frame, selfMicros, share: all > 0 ? selfMicros / all : 0 }));
}
