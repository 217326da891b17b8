import type { Channel, TraceEntry } from '@omnigate/contracts';
import type { CapDecision } from './frequency-caps';
import { nextRetry, type RetryPolicy } from './retry-backoff';

/*
 * The fallback decision: after one candidate channel of a plan was tried, what happens to the
 * message next. Pure: dispatch does the I/O (reserve the caps, guard the spend, render, call the
 * router, release what a refused send held) and hands the outcome here with the time it was seen;
 * randomness arrives as `progress.random`. Together with the planner this answers "why did this go
 * to email".
 *
 * Rules, for the outcome of the candidate at `progress.position`:
 *
 * 1. sent → settle `sent` on that channel and provider; fallbackFrom names the first candidate
 *    that did not take the message, when there was one.
 * 2. outcome_unknown → settle `unknown` (PROVIDER_OUTCOME_UNKNOWN) on that channel: the provider
 *    may have delivered it, and any other provider or channel could send it twice.
 * 3. capped → a skipped entry CAPPED with the cap's words, then by the rule's action:
 *      next_channel                   → the candidate failed (rule 7);
 *      defer, frees before expiry     → defer until the rule frees (CAPPED);
 *      cap, or defer past the expiry  → settle `capped`.
 * 4. throttled (every provider of the channel at its configured send rate; the sender is busy,
 *    not broken) → defer THROTTLED until at + retryAfterMs + a spread of
 *    random × 1 s × min(8, deferrals + 1), so a burst of waiting messages does not wake at one
 *    instant; it spends no provider retry. When that is not before the expiry, the candidate
 *    failed (rule 7), not worth a retry.
 * 5. provider_failure → the candidate failed (rule 7); worth a retry when `retryable` (every
 *    provider failed on its side), keeping the longest Retry-After any provider asked for.
 * 6. spend_refused, content_error → the candidate failed (rule 7).
 * 7. A failed candidate: the next candidate is tried. After the last one:
 *      every candidate was capped (none got past its caps) → settle `capped` with the last reason;
 *      some failure was retryable → nextRetry (full jitter, Retry-After, expiry): defer
 *        PROVIDER_RETRY with one more retry spent and a skipped entry on the first failed
 *        channel saying which retry and when; or, when no retry is left or it would land past the
 *        expiry, settle `failed` with the last reason and why no retry was made;
 *      otherwise → settle `failed` with the last reason.
 * 8. Receipts count the provider calls of this run (`attempt`); a deferral answers with none.
 * 9. Trace. The step's entries are only those of its own decision (CAPPED, PROVIDER_RETRY), each at
 *    the outcome's `at`; what the I/O saw (provider attempts, spend guard, content) dispatch has
 *    already recorded.
 */

export interface FallbackReason {
  readonly code: string;
  readonly message: string;
}

/** A capped candidate: the cap decision that refused it. */
export type BlockedCap = Extract<CapDecision, { kind: 'blocked' }>;

/** How trying one candidate ended, as dispatch saw it. */
export type CandidateResult =
  | {
      readonly kind: 'sent';
      readonly provider: string;
      readonly providerMessageId: string;
      /** Provider calls made for this candidate. */
      readonly calls: number;
    }
  | { readonly kind: 'capped'; readonly cap: BlockedCap }
  | { readonly kind: 'spend_refused'; readonly reason: FallbackReason }
  | { readonly kind: 'throttled'; readonly retryAfterMs: number; readonly reason: FallbackReason }
  | {
      readonly kind: 'provider_failure';
      /** Every provider failed on its side: worth trying later. */
      readonly retryable: boolean;
      readonly retryAfterMs?: number;
      readonly reason: FallbackReason;
      readonly calls: number;
    }
  | {
      readonly kind: 'outcome_unknown';
      readonly provider: string;
      readonly reason: FallbackReason;
      readonly calls: number;
    }
  | { readonly kind: 'content_error'; readonly reason: FallbackReason };

/** A candidate's result and when it was seen (the time every decision about it is made at). */
export type CandidateOutcome = CandidateResult & { readonly at: Date };

/** A candidate that did not take the message, and why. */
export interface CandidateFailure {
  readonly channel: Channel;
  readonly kind: Exclude<CandidateOutcome['kind'], 'sent' | 'outcome_unknown'>;
  readonly reason: FallbackReason;
  /** Set when it is worth a retry later: the longest wait its providers asked for (0: none). */
  readonly retry?: { readonly retryAfterMs: number };
}

/** Where a message is in its candidate list. */
export interface FallbackProgress {
  /** The plan's candidates, in order. */
  readonly candidates: readonly Channel[];
  /** The candidate being tried. */
  readonly position: number;
  /** The candidates before it, in order. */
  readonly failures: readonly CandidateFailure[];
  /** Provider calls so far in this run. */
  readonly calls: number;
  /** Deferrals before this run. */
  readonly deferrals: number;
  /** Provider retries spent before this run. */
  readonly retries: number;
  readonly expiresAt: Date;
  readonly retryPolicy: RetryPolicy;
  /** A number in [0, 1): the retry jitter and the throttle spread. */
  readonly random: () => number;
}

export type DeferReasonCode = 'CAPPED' | 'THROTTLED' | 'PROVIDER_RETRY';

export type FallbackStep =
  | { readonly kind: 'next'; readonly progress: FallbackProgress; readonly trace: TraceEntry[] }
  | {
      readonly kind: 'defer';
      readonly until: Date;
      readonly reasonCode: DeferReasonCode;
      /** What deferred it, in words ("deferred by … until …"). */
      readonly why: string;
      /** Provider retries spent, this deferral's included. */
      readonly retries: number;
      /** Set when the deferral spends a provider retry: the channel it is counted on. */
      readonly retryOf?: Channel;
      readonly trace: TraceEntry[];
    }
  | ({ readonly kind: 'settle'; readonly attempt: number; readonly trace: TraceEntry[] } & (
      | {
          readonly status: 'sent';
          readonly channel: Channel;
          readonly provider: string;
          readonly providerMessageId: string;
          readonly fallbackFrom?: Channel;
        }
      | {
          readonly status: 'unknown';
          readonly channel: Channel;
          readonly provider: string;
          readonly reason: FallbackReason;
          readonly fallbackFrom?: Channel;
        }
      | { readonly status: 'capped' | 'failed'; readonly reason: FallbackReason }
    ));

export function startFallback(
  input: Omit<FallbackProgress, 'position' | 'failures' | 'calls'>,
): FallbackProgress {
  if (input.candidates.length === 0) throw new Error('a fallback needs at least one candidate');
  return { ...input, position: 0, failures: [], calls: 0 };
}

export function nextStep(progress: FallbackProgress, outcome: CandidateOutcome): FallbackStep {
  const channel = progress.candidates[progress.position];
  if (channel === undefined) throw new Error(`no candidate at position ${progress.position}`);
  const at = outcome.at.toISOString();
  const calls = progress.calls + ('calls' in outcome ? outcome.calls : 0);
  const fallbackFrom = progress.failures[0]?.channel;
  const from = fallbackFrom ? { fallbackFrom } : {};
  switch (outcome.kind) {
    case 'sent':
      return {
        kind: 'settle',
        status: 'sent',
        attempt: calls,
        channel,
        provider: outcome.provider,
        providerMessageId: outcome.providerMessageId,
        ...from,
        trace: [],
      };
    case 'outcome_unknown':
      return {
        kind: 'settle',
        status: 'unknown',
        attempt: calls,
        channel,
        provider: outcome.provider,
        reason: { code: 'PROVIDER_OUTCOME_UNKNOWN', message: outcome.reason.message },
        ...from,
        trace: [],
      };
    case 'capped': {
      const { cap } = outcome;
      const trace: TraceEntry[] = [
        { channel, decision: 'skipped', reasonCode: 'CAPPED', detail: cap.reason, at },
      ];
      const reason = { code: 'CAPPED', message: cap.reason };
      if (cap.action === 'next_channel') {
        return failed(progress, calls, { channel, kind: 'capped', reason }, outcome.at, trace);
      }
      if (cap.action === 'defer' && cap.retryAt < progress.expiresAt) {
        return {
          kind: 'defer',
          until: cap.retryAt,
          reasonCode: 'CAPPED',
          why: `cap rule ${cap.rule.id}`,
          retries: progress.retries,
          trace,
        };
      }
      return { kind: 'settle', status: 'capped', attempt: calls, reason, trace };
    }
    case 'throttled': {
      const spreadMs = progress.random() * 1000 * Math.min(8, progress.deferrals + 1);
      const until = new Date(outcome.at.getTime() + outcome.retryAfterMs + spreadMs);
      if (until < progress.expiresAt) {
        return {
          kind: 'defer',
          until,
          reasonCode: 'THROTTLED',
          why: `the ${channel} sender's configured send rate`,
          retries: progress.retries,
          trace: [],
        };
      }
      return failed(
        progress,
        calls,
        { channel, kind: 'throttled', reason: outcome.reason },
        outcome.at,
        [],
      );
    }
    case 'provider_failure': {
      const retry = outcome.retryable ? { retryAfterMs: outcome.retryAfterMs ?? 0 } : undefined;
      return failed(
        progress,
        calls,
        { channel, kind: outcome.kind, reason: outcome.reason, ...(retry && { retry }) },
        outcome.at,
        [],
      );
    }
    case 'spend_refused':
    case 'content_error':
      return failed(
        progress,
        calls,
        { channel, kind: outcome.kind, reason: outcome.reason },
        outcome.at,
        [],
      );
  }
}

/** Rule 7: the candidate failed; try the next one, or decide for the whole list after the last. */
function failed(
  progress: FallbackProgress,
  calls: number,
  failure: CandidateFailure,
  now: Date,
  trace: TraceEntry[],
): FallbackStep {
  const failures = [...progress.failures, failure];
  const position = progress.position + 1;
  if (position < progress.candidates.length) {
    return { kind: 'next', progress: { ...progress, position, failures, calls }, trace };
  }
  const reason = failure.reason;
  if (failures.every((f) => f.kind === 'capped')) {
    return { kind: 'settle', status: 'capped', attempt: calls, reason, trace };
  }
  const retryable = failures.filter((f) => f.retry !== undefined);
  if (retryable.length === 0) {
    return { kind: 'settle', status: 'failed', attempt: calls, reason, trace };
  }
  const retryAfterMs = Math.max(...retryable.map((f) => f.retry?.retryAfterMs ?? 0));
  const { retries, retryPolicy } = progress;
  const next = nextRetry({
    policy: retryPolicy,
    retriesSoFar: retries,
    now,
    expiresAt: progress.expiresAt,
    retryAfterMs: retryAfterMs || undefined,
    random: progress.random,
  });
  if (!next.retry) {
    const why =
      next.why === 'WOULD_EXPIRE' ? 'no retry before the message expires' : 'retries exhausted';
    return {
      kind: 'settle',
      status: 'failed',
      attempt: calls,
      reason: { ...reason, message: `${reason.message} (${why})` },
      trace,
    };
  }
  const first = failures[0]?.channel ?? failure.channel;
  return {
    kind: 'defer',
    until: next.at,
    reasonCode: 'PROVIDER_RETRY',
    why: `retry ${retries + 1} after provider failures`,
    retries: retries + 1,
    retryOf: first,
    trace: [
      ...trace,
      {
        channel: first,
        decision: 'skipped',
        reasonCode: 'PROVIDER_RETRY',
        detail: `every provider failed on its side; retry ${retries + 1} of ${retryPolicy.maxRetries} in ${Math.round(next.delayMs / 1000)} s`,
        at: now.toISOString(),
      },
    ],
  };
}
