import type { ProviderOutcome } from '@omnigate/contracts';

/*
 * How a provider's report moves a message along (pure: the applier reads the message's state,
 * asks this, and writes what it answers in one transaction).
 *
 *   (none) ──sent──► sent ──delivered──► delivered ──read──► read
 *                     │                     │
 *                     └──failed/bounced──►  └──failed/bounced──► failed | bounced   (the end)
 *
 * 1. Progress ranks sent < delivered < read; a report of a lower or equal rank changes nothing
 *    (a late `sent` after `delivered`, a second `delivered`).
 * 2. failed and bounced end a message that was sent or delivered (email's late bounce after
 *    delivery is real), never one that was read; the first end stands.
 * 3. `read` implies delivered: when delivered was not reported yet, its receipt comes first.
 * 4. `deferred` is timeline only; `none` (a report that only suppresses an address) changes no
 *    status; `unknown` is relayed once as an `unknown` receipt and never taken for success: it
 *    is the stored status only while there is none.
 * 5. Each status gets exactly one receipt: one already reported is not reported again.
 * 6. A message no provider was given (the dispatch ended it suppressed, capped, expired, failed
 *    before any provider took it) has no delivery to report: the event is recorded, nothing more.
 */

/** messages.delivery_status: how far the provider got. */
export const DELIVERY_STATUSES = [
  'sent',
  'delivered',
  'read',
  'failed',
  'bounced',
  'unknown',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** The receipts a provider event can cause. */
export type ProgressReceiptStatus = DeliveryStatus;

/** What applying the report did, for the timeline and the metrics' `effect` label. */
export type ProgressEffect =
  /** The status moved on (and its receipts were written). */
  | 'advanced'
  /** A report that would move the status backwards or past its end: recorded, nothing changed. */
  | 'no_regress'
  /** The status was reached already (a second `delivered` under another event id). */
  | 'no_change'
  /** `deferred`: the provider is still trying; recorded in the timeline only. */
  | 'timeline_only'
  /** A status we cannot map: an `unknown` receipt once, never success. */
  | 'unknown_status'
  /** `none`: the report carries only a suppression. */
  | 'no_status'
  /** The dispatch never handed the message to a provider: there is nothing to move. */
  | 'not_sent';

export interface ProgressInput {
  /** The stored delivery status; null before any provider report was applied. */
  readonly current: DeliveryStatus | null;
  /** Receipt statuses already written for the message (the dispatch's `sent` among them). */
  readonly reported: ReadonlySet<string>;
  readonly outcome: ProviderOutcome;
  /**
   * Whether a provider may have the message: the dispatch settled it `sent`, or `unknown` (the
   * call may have reached the provider).
   */
  readonly handedToProvider: boolean;
}

export interface ProgressDecision {
  readonly effect: ProgressEffect;
  /** The delivery status to store (the current one when nothing changes). */
  readonly next: DeliveryStatus | null;
  /** Receipts to write, in this order. */
  readonly receipts: readonly ProgressReceiptStatus[];
}

const RANK: Readonly<Record<DeliveryStatus, number>> = {
  unknown: 0,
  sent: 1,
  delivered: 2,
  read: 3,
  failed: 4,
  bounced: 4,
};

function isEnd(status: DeliveryStatus | null): boolean {
  return status === 'failed' || status === 'bounced';
}

export function decideProgress({
  current,
  reported,
  outcome,
  handedToProvider,
}: ProgressInput): ProgressDecision {
  const unchanged = (effect: ProgressEffect): ProgressDecision => ({
    effect,
    next: current,
    receipts: [],
  });
  const notYet = (statuses: readonly ProgressReceiptStatus[]) =>
    statuses.filter((status) => !reported.has(status));
  const rank = current === null ? 0 : RANK[current];

  if (!handedToProvider) return unchanged('not_sent');
  switch (outcome) {
    case 'none':
      return unchanged('no_status');
    case 'deferred':
      return unchanged('timeline_only');
    case 'unknown':
      return {
        effect: 'unknown_status',
        next: current ?? 'unknown',
        receipts: notYet(['unknown']),
      };
    case 'sent':
    case 'delivered':
    case 'read': {
      if (isEnd(current) || rank > RANK[outcome]) return unchanged('no_regress');
      if (rank === RANK[outcome]) return unchanged('no_change');
      const implied: ProgressReceiptStatus[] =
        outcome === 'read' ? ['delivered', 'read'] : [outcome];
      return { effect: 'advanced', next: outcome, receipts: notYet(implied) };
    }
    case 'failed':
    case 'bounced':
      if (current === 'read' || isEnd(current)) return unchanged('no_regress');
      return { effect: 'advanced', next: outcome, receipts: notYet([outcome]) };
  }
}
