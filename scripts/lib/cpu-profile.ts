/**
 * Self time per function in a V8 CPU profile (the .cpuprofile JSON `node --cpu-prof` writes): each
 * sample is charged the time until the next one, to the function at the top of the stack then.
 */

export interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    /** 0-based, -1 when unknown. */
    readonly lineNumber: number;
  };
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
  /** functionName url:line, e.g. `parse node:internal/url:12`. */
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
  const totals = new Map<string, number>();
  let at = profile.startTime;
  const sampledAt = profile.timeDeltas.map((delta) => (at += delta));
  let all = 0;
  profile.samples.forEach((nodeId, i) => {
    const micros = Math.max(0, (sampledAt[i + 1] ?? profile.endTime) - sampledAt[i]!);
    const frame = frames.get(nodeId) ?? `(node ${nodeId})`;
    totals.set(frame, (totals.get(frame) ?? 0) + micros);
    all += micros;
  });
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, selfMicros]) => ({ frame, selfMicros, share: all > 0 ? selfMicros / all : 0 }));
}
