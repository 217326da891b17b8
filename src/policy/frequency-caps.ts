import type { Channel } from '@omnigate/contracts';

/**
 * Per-customer frequency caps: which rules count a send, and what to do when one is full. Pure:
 * the counting itself lives behind the CapStore port (src/repositories/cap-store.ts).
 */

/** What happens to a non-transactional send that a full rule refuses. */
export type OverCapAction = 'next_channel' | 'defer' | 'cap';

export interface CapScope {
  /** Absent means every channel. */
  readonly channel?: Channel;
  /** Absent means every category. */
  readonly category?: string;
}

export interface CapRule {
  /** Stable: it names the counter, so renaming a rule starts its window afresh. */
  readonly id: string;
  readonly scope: CapScope;
  readonly windowSeconds: number;
  /** Sends allowed inside any window of windowSeconds. */
  readonly limit: number;
  readonly overCap: OverCapAction;
}

export interface CapSubject {
  readonly channel: Channel;
  readonly category: string;
}

/** One rule that had no room: how full its window is and when a slot frees. */
export interface CapViolation {
  readonly rule: CapRule;
  /** Sends already counted in the window (more than the limit after forced sends). */
  readonly count: number;
  /** When enough entries have left the window for one more send to fit. */
  readonly retryAt: Date;
}

/** A send counted in every applicable rule's window; release it if the provider refuses it. */
export interface CapReservation {
  readonly customerId: string;
  readonly reservationId: string;
  /** The rules whose windows hold this reservation. */
  readonly ruleIds: readonly string[];
  readonly at: Date;
}

export type ReserveResult =
  | {
      readonly granted: true;
      readonly reservation: CapReservation;
      /** Empty unless the reservation was forced past full rules. */
      readonly violated: readonly CapViolation[];
    }
  | { readonly granted: false; readonly violated: readonly CapViolation[] };

/** A rule applies when every scope field it sets matches; an empty scope applies to all sends. */
export function applicableRules(rules: readonly CapRule[], subject: CapSubject): CapRule[] {
  return rules.filter(
    (rule) =>
      (rule.scope.channel === undefined || rule.scope.channel === subject.channel) &&
      (rule.scope.category === undefined || rule.scope.category === subject.category),
  );
}

/** Every problem with a rule set, in words; empty when the rules are usable. */
export function capRuleProblems(rules: readonly CapRule[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    const name = rule.id === '' ? 'a rule with an empty id' : `rule ${rule.id}`;
    if (rule.id === '') problems.push('a rule has an empty id');
    else if (seen.has(rule.id)) problems.push(`rule id ${rule.id} is used twice`);
    seen.add(rule.id);
    if (!Number.isInteger(rule.limit) || rule.limit < 1) {
      // A limit of 0 would have no retryAt; a rule that forbids a channel belongs to preferences.
      problems.push(`${name}: limit must be a whole number ≥ 1, got ${rule.limit}`);
    }
    if (!Number.isInteger(rule.windowSeconds) || rule.windowSeconds < 1) {
      problems.push(`${name}: windowSeconds must be a whole number ≥ 1, got ${rule.windowSeconds}`);
    }
  }
  return problems;
}

/** "24 h", "7 d", "90 min", "45 s": the window as an agent would say it. */
export function formatWindow(windowSeconds: number): string {
  if (windowSeconds % 86400 === 0 && windowSeconds >= 2 * 86400)
    return `${windowSeconds / 86400} d`;
  if (windowSeconds % 3600 === 0) return `${windowSeconds / 3600} h`;
  if (windowSeconds % 60 === 0) return `${windowSeconds / 60} min`;
  return `${windowSeconds} s`;
}

export type CapDecision =
  | {
      readonly kind: 'proceed';
      readonly reservation: CapReservation;
      /** Words for the trace when a transactional send went past full rules; else undefined. */
      readonly note?: string;
    }
  | {
      readonly kind: 'blocked';
      readonly action: OverCapAction;
      /** The violated rule whose window frees last: it alone decides. */
      readonly rule: CapRule;
      readonly count: number;
      readonly retryAt: Date;
      readonly reason: string;
    };

// On equal retryAt the harsher action wins, so adding a rule can never make a cap milder.
const SEVERITY: Record<OverCapAction, number> = { next_channel: 0, defer: 1, cap: 2 };

const ACTION_WORDS: Record<OverCapAction, string> = {
  next_channel: 'trying the next channel',
  defer: 'deferred until then',
  cap: 'not sent',
};

function describeViolation(violation: CapViolation): string {
  const { rule } = violation;
  return (
    `rule ${rule.id}: ${rule.limit} in ${formatWindow(rule.windowSeconds)}, ` +
    `frees at ${violation.retryAt.toISOString()}`
  );
}

/** The violated rule that blocks longest (latest retryAt), or undefined when none is violated. */
export function mostRestrictive(violated: readonly CapViolation[]): CapViolation | undefined {
  let worst: CapViolation | undefined;
  for (const candidate of violated) {
    if (worst === undefined) {
      worst = candidate;
      continue;
    }
    const later = candidate.retryAt.getTime() - worst.retryAt.getTime();
    const harsher = SEVERITY[candidate.rule.overCap] - SEVERITY[worst.rule.overCap];
    if (later > 0 || (later === 0 && harsher > 0)) worst = candidate;
  }
  return worst;
}

/**
 * Turns a reserve result into what dispatch does next. Transactional sends are never blocked: they
 * must have been reserved with force, so they are counted and granted even past a full rule.
 */
export function decideOverCap(result: ReserveResult, transactional: boolean): CapDecision {
  if (result.granted) {
    const worst = mostRestrictive(result.violated);
    if (worst === undefined) return { kind: 'proceed', reservation: result.reservation };
    return {
      kind: 'proceed',
      reservation: result.reservation,
      note: `over ${describeViolation(worst)}; sent anyway (transactional), and counted`,
    };
  }
  if (transactional) {
    // Not counting a transactional send would let marketing through past the cap later.
    throw new Error('a transactional send was refused by the cap store: reserve it with force');
  }
  const worst = mostRestrictive(result.violated);
  if (worst === undefined) {
    throw new Error('cap store refused a reservation without naming a violated rule');
  }
  return {
    kind: 'blocked',
    action: worst.rule.overCap,
    rule: worst.rule,
    count: worst.count,
    retryAt: worst.retryAt,
    reason: `capped by ${describeViolation(worst)} (${ACTION_WORDS[worst.rule.overCap]})`,
  };
}
