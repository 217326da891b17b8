import type { Channel } from '@omnigate/contracts';
import { mostRestrictive, type CapViolation } from './frequency-caps';
import type { PlanResult } from './model';

/** One provider of a channel as a dry run sees it: its id and its breaker right now. */
export interface ProviderView {
  readonly id: string;
  readonly breaker: string;
}

/** What a dry run knows about one planned channel, gathered without sending or counting. */
export interface CandidateView {
  readonly channel: Channel;
  readonly providers: readonly ProviderView[];
  /** Rules that would be full if the send were reserved now. */
  readonly fullRules: readonly CapViolation[];
  /** The spend guard's refusal of this channel now (SMS, WhatsApp), if it would refuse. */
  readonly spendRefusal?: { readonly reasonCode: string; readonly reason: string };
}

export type PredictedStep =
  | { readonly channel: Channel; readonly step: 'send'; readonly provider: string }
  | { readonly channel: Channel; readonly step: 'capped'; readonly detail: string }
  | { readonly channel: Channel; readonly step: 'breakers_open'; readonly detail: string }
  | {
      readonly channel: Channel;
      readonly step: 'spend_refused';
      readonly reasonCode: string;
      readonly detail: string;
    };

export interface Prediction {
  /**
   * send, defer, capped, suppress, expired, undeliverable, or failed (the spend guard refused the
   * channels the caps left): the first receipt a send would get.
   */
  readonly outcome: PlanResult['kind'] | 'capped' | 'failed';
  /** The channel and provider that would carry it, when the outcome is send. */
  readonly channel: Channel | null;
  readonly provider: string | null;
  readonly until: Date | null;
  /** Each planned channel in order, until the one that decides. */
  readonly steps: readonly PredictedStep[];
}

/**
 * What dispatch would do with a plan, given the caps and breakers as they are now. It mirrors
 * dispatch's walk over the candidates: a full rule moves on, defers or caps by its own action
 * (unless the send is forced: transactional or an admin's cap override); a channel whose every
 * breaker is open is passed over, and so is one the spend guard refuses (whatever the category: the
 * guard binds transactional sends too). Provider answers cannot be known, so the first provider with a
 * closed or half-open breaker is the prediction.
 */
export function predictDispatch(
  planned: PlanResult,
  candidates: readonly CandidateView[],
  forceCaps: boolean,
): Prediction {
  const none = { channel: null, provider: null, until: null };
  if (planned.kind === 'defer') {
    return { outcome: 'defer', ...none, until: planned.until, steps: [] };
  }
  if (planned.kind !== 'send') return { outcome: planned.kind, ...none, steps: [] };
  const steps: PredictedStep[] = [];
  for (const candidate of candidates) {
    const worst = forceCaps ? undefined : mostRestrictive(candidate.fullRules);
    if (worst !== undefined) {
      const detail = `rule ${worst.rule.id} is full (${worst.count} of ${worst.rule.limit}) until ${worst.retryAt.toISOString()}`;
      steps.push({ channel: candidate.channel, step: 'capped', detail });
      if (worst.rule.overCap === 'defer' && worst.retryAt < planned.expiresAt) {
        return { outcome: 'defer', ...none, until: worst.retryAt, steps };
      }
      if (worst.rule.overCap !== 'next_channel') return { outcome: 'capped', ...none, steps };
      continue;
    }
    if (candidate.spendRefusal) {
      steps.push({
        channel: candidate.channel,
        step: 'spend_refused',
        reasonCode: candidate.spendRefusal.reasonCode,
        detail: candidate.spendRefusal.reason,
      });
      continue;
    }
    const usable = candidate.providers.find((provider) => provider.breaker !== 'open');
    if (usable === undefined) {
      const ids = candidate.providers.map((provider) => provider.id).join(', ');
      steps.push({
        channel: candidate.channel,
        step: 'breakers_open',
        detail: `every provider's breaker is open (${ids})`,
      });
      continue;
    }
    steps.push({ channel: candidate.channel, step: 'send', provider: usable.id });
    return {
      outcome: 'send',
      channel: candidate.channel,
      provider: usable.id,
      until: null,
      steps,
    };
  }
  // Every channel capped ends capped; an open breaker on the way makes dispatch retry later
  // through the scheduler (while retries and the TTL allow); a spend refusal otherwise fails it.
  const anyBreakerOpen = steps.some((step) => step.step === 'breakers_open');
  const everyCapped = steps.every((step) => step.step === 'capped');
  const outcome = anyBreakerOpen ? 'defer' : everyCapped ? 'capped' : 'failed';
  return { outcome, ...none, steps };
}
