import type { Channel, TraceEntry } from '@omnigate/contracts';
import type { CategoryPolicy, EscalationCondition } from './model';

/*
 * Escalation: "if the message is not delivered (or not read) within D, try the next channel".
 * Pure: dispatch and the scheduler do the I/O and hand the facts here.
 *
 * Rules
 *
 * 1. At send. When a run settles `sent` on a channel, and the category has an escalation, and a
 *    candidate of the plan is left that this message has not used yet, an escalation job runs at
 *    sentAt + afterSeconds; not when that is at or past the message's expiry (nothing could be
 *    sent then). The sent receipt's trace says what will happen (ESCALATION_SCHEDULED).
 * 2. Reached. A `read` receipt satisfies both conditions (a read message was delivered); a
 *    `delivered` receipt satisfies only `delivered`. A reached message is not escalated, and the
 *    job that was waiting for it is cancelled (or, when it fires anyway, does nothing).
 * 3. When the job fires and the message has not reached its condition: the plan is made again (it
 *    may expire, defer or find nothing now), and its candidates minus every channel the message
 *    has used (attempted) are tried in the plan's order, through the normal fallback. None left:
 *    nothing is sent (NO_CHANNEL_LEFT). Past the expiry: nothing is sent (EXPIRED).
 * 4. Trace entries say it in plain words, e.g. "no delivery report from sms within 10 minutes;
 *    trying email" (ESCALATED), at the time of the decision.
 */

export interface EscalationSchedule {
  readonly runAt: Date;
  /** The channel the message was sent on, which the escalation moves away from. */
  readonly channel: Channel;
  readonly unless: EscalationCondition;
  readonly afterSeconds: number;
}

export type EscalationAtSend =
  | {
      readonly kind: 'schedule';
      readonly schedule: EscalationSchedule;
      readonly trace: TraceEntry;
    }
  | { readonly kind: 'none'; readonly trace?: TraceEntry };

export interface EscalationAtSendInput {
  readonly policy: CategoryPolicy;
  /** The plan's candidate channels, in order. */
  readonly candidates: readonly Channel[];
  /** Channels this message has used so far (attempted on this run or before), the sent one included. */
  readonly used: readonly Channel[];
  readonly sentOn: Channel;
  readonly sentAt: Date;
  readonly expiresAt: Date;
}

/** Rule 1: whether a message just sent gets an escalation job, and when. */
export function escalationAtSend(input: EscalationAtSendInput): EscalationAtSend {
  const { policy, sentOn, sentAt, expiresAt } = input;
  const escalation = policy.escalation;
  if (!escalation) return { kind: 'none' };
  const at = sentAt.toISOString();
  const within = durationWords(escalation.afterSeconds);
  const next = untried(input.candidates, [...input.used, sentOn]);
  if (next.length === 0) return { kind: 'none' };
  const runAt = new Date(sentAt.getTime() + escalation.afterSeconds * 1000);
  if (runAt.getTime() >= expiresAt.getTime()) {
    return {
      kind: 'none',
      trace: {
        channel: sentOn,
        decision: 'chosen',
        reasonCode: 'NO_ESCALATION',
        detail: `no escalation: the message expires at ${expiresAt.toISOString()}, before ${within} are up`,
        at,
      },
    };
  }
  return {
    kind: 'schedule',
    schedule: {
      runAt,
      channel: sentOn,
      unless: escalation.unless,
      afterSeconds: escalation.afterSeconds,
    },
    trace: {
      channel: sentOn,
      decision: 'chosen',
      reasonCode: 'ESCALATION_SCHEDULED',
      detail: `if ${sentOn} gives no ${reportWord(escalation.unless)} within ${within}, ${next[0]} is tried next`,
      at,
    },
  };
}

/** Rule 2: whether a receipt of status `reached` satisfies the condition `unless`. */
export function satisfies(
  reached: EscalationCondition | null,
  unless: EscalationCondition,
): boolean {
  if (reached === null) return false;
  return reached === 'read' || unless === 'delivered';
}

/** The receipt statuses that satisfy `unless` (what a cancel or a check looks for). */
export function satisfyingStatuses(unless: EscalationCondition): readonly EscalationCondition[] {
  return unless === 'delivered' ? ['delivered', 'read'] : ['read'];
}

/** The conditions a receipt of status `reached` satisfies (the jobs it cancels). */
export function conditionsMetBy(reached: EscalationCondition): readonly EscalationCondition[] {
  return reached === 'read' ? ['delivered', 'read'] : ['delivered'];
}

export interface ReachedInput {
  readonly from: Channel;
  readonly unless: EscalationCondition;
  readonly afterSeconds: number;
  /** The strongest of the message's delivered/read receipts; null when it has none. */
  readonly reached: EscalationCondition | null;
  readonly now: Date;
}

/**
 * Rule 2, when the job fires: the trace entry of a message that reached its condition in time
 * (nothing is sent), or null when it did not and the escalation goes on (escalationFired).
 */
export function reachedInTime(input: ReachedInput): TraceEntry | null {
  const { from, unless, reached } = input;
  if (!satisfies(reached, unless)) return null;
  return {
    channel: from,
    decision: 'sent',
    reasonCode: 'REACHED_IN_TIME',
    detail: `${reached === 'read' ? 'read' : 'delivered'} in time on ${from} (within ${durationWords(input.afterSeconds)}); not escalated`,
    at: input.now.toISOString(),
  };
}

export interface EscalationFiredInput {
  readonly from: Channel;
  readonly unless: EscalationCondition;
  readonly afterSeconds: number;
  /** What planning the message again gave now. */
  readonly plan:
    | { readonly kind: 'send'; readonly candidates: readonly Channel[] }
    | { readonly kind: 'expired'; readonly expiresAt: Date }
    | { readonly kind: 'not_sendable'; readonly why: string };
  /** Channels the message has used (attempted) so far. */
  readonly used: readonly Channel[];
  readonly now: Date;
}

export type EscalationFired =
  /** Nothing is sent; the trace entry says why (reached in time, expired, no channel left). */
  | {
      readonly kind: 'done';
      readonly reasonCode: 'EXPIRED' | 'NO_CHANNEL_LEFT' | 'NOT_SENDABLE';
      readonly trace: TraceEntry;
    }
  /** Try these channels, in order, through the normal fallback. */
  | {
      readonly kind: 'escalate';
      readonly candidates: readonly Channel[];
      readonly trace: TraceEntry;
    };

/** Rules 3–4: what an escalation job does when it fires and the message has not reached its condition. */
export function escalationFired(input: EscalationFiredInput): EscalationFired {
  const { from, unless, plan, now } = input;
  const at = now.toISOString();
  const within = durationWords(input.afterSeconds);
  const missing = `no ${reportWord(unless)} from ${from} within ${within}`;
  if (plan.kind === 'expired') {
    return {
      kind: 'done',
      reasonCode: 'EXPIRED',
      trace: {
        channel: from,
        decision: 'skipped',
        reasonCode: 'EXPIRED',
        detail: `${missing}, but the message expired at ${plan.expiresAt.toISOString()}; not escalated`,
        at,
      },
    };
  }
  if (plan.kind === 'not_sendable') {
    return {
      kind: 'done',
      reasonCode: 'NOT_SENDABLE',
      trace: {
        channel: from,
        decision: 'skipped',
        reasonCode: 'NOT_ESCALATED',
        detail: `${missing}, but ${plan.why}; not escalated`,
        at,
      },
    };
  }
  const next = untried(plan.candidates, [...input.used, from]);
  const [first] = next;
  if (first === undefined) {
    return {
      kind: 'done',
      reasonCode: 'NO_CHANNEL_LEFT',
      trace: {
        channel: from,
        decision: 'skipped',
        reasonCode: 'NO_CHANNEL_LEFT',
        detail: `${missing}, but no other channel is left to try; not escalated`,
        at,
      },
    };
  }
  return {
    kind: 'escalate',
    candidates: next,
    trace: {
      channel: first,
      decision: 'chosen',
      reasonCode: 'ESCALATED',
      detail: `${missing}; trying ${next.join(', then ')}`,
      at,
    },
  };
}

function untried(candidates: readonly Channel[], used: readonly Channel[]): Channel[] {
  return candidates.filter((channel) => !used.includes(channel));
}

function reportWord(unless: EscalationCondition): string {
  return unless === 'delivered' ? 'delivery report' : 'read report';
}

/** "10 minutes", "1 hour", "90 seconds": how long the escalation waits, in words. */
export function durationWords(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds % 86400 === 0) return unit(seconds / 86400, 'day');
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}
