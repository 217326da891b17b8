import { Semaphore } from '@omnigate/common';
import type { Channel } from '@omnigate/contracts';
import type { OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError } from './channel-error';
import { traitsOf } from './error-kinds';
import type { ProtectedAdapter } from './provider-breaker';
import {
  LOCAL_RATE_LIMIT,
  type GrantedPermit,
  type SendPermit,
  type SendPermits,
} from './send-permits';

/** One provider tried for a message, and how it went. */
export interface ProviderAttempt {
  readonly provider: string;
  readonly outcome: 'accepted' | 'failed';
  readonly errorKind?: ChannelError['kind'];
  readonly vendorCode?: string;
  readonly detail: string;
}

export interface RoutedAcceptance {
  readonly acceptance: ProviderAcceptance;
  readonly attempts: readonly ProviderAttempt[];
}

/**
 * Hooks around each provider call of one `send`, e.g. to record an attempt durably before the
 * request leaves, so a crash mid-call leaves a trace of a send that may have happened.
 *
 * - `beforeCall` runs right before a provider is called: after its send permit was granted, never
 *   for a provider skipped by its send rate. An open breaker still counts as a call (it answers
 *   BREAKER_OPEN without a request). If it throws, that provider is not called, the router tries
 *   no other, and the error propagates out of `send`.
 * - `afterCall` runs right after the provider accepted or failed with a ChannelError, with the
 *   attempt as it will appear in the result (and the acceptance when there is one). If it throws,
 *   the error propagates out of `send`, even though the provider may have taken the message.
 *   One rare case makes no request after `beforeCall`: the hook took so long that the permit
 *   lapsed and the window filled meanwhile (SendPermits.renew); `afterCall` then gets the
 *   LOCAL_RATE_LIMIT attempt and the router moves on, as for any throttled provider.
 *
 * Both are awaited in turn; the router calls one provider at a time, so calls never overlap.
 */
export interface AttemptObserver {
  beforeCall(providerId: string): Promise<void>;
  afterCall(
    providerId: string,
    attempt: ProviderAttempt,
    acceptance?: ProviderAcceptance,
  ): Promise<void>;
}

export interface ChannelRouterOptions {
  /** Send rates per provider; without it, every provider is called as often as asked. */
  readonly permits?: SendPermits;
  /**
   * Told when the permit store could not record that a call ended. The send itself stands (the
   * call happened, and failing it now could send twice); the caller logs it.
   */
  readonly onPermitCompletionFailed?: (providerId: string, error: unknown) => void;
  /**
   * Provider id → the most calls of it in flight at once (PROVIDER_<ID>_MAX_IN_FLIGHT); more wait
   * for a slot, which neither fails them nor counts against the breaker's timeout. A provider not
   * listed is unbounded. One id serving two channels has one bound for both.
   */
  readonly maxInFlight?: ReadonlyMap<string, number>;
}

/** Every provider of the channel refused or was unavailable; `lastError` says how it ended. */
export class ChannelUnavailableError extends Error {
  constructor(
    readonly channel: Channel,
    readonly attempts: readonly ProviderAttempt[],
    readonly lastError: ChannelError,
  ) {
    super(
      attempts.length === 0
        ? `no provider is configured for ${channel}`
        : `no ${channel} provider took the message: ${attempts.map((a) => `${a.provider}: ${a.detail}`).join('; ')}`,
    );
    this.name = 'ChannelUnavailableError';
  }

  /** True when every provider was skipped because its breaker was open. */
  get allBreakersOpen(): boolean {
    return this.attempts.length > 0 && this.attempts.every((a) => a.vendorCode === 'BREAKER_OPEN');
  }

  /**
   * True when no provider request was made because of local throttling: at least one provider was
   * at its configured send rate and every other one was too, or had its breaker open. Nothing went
   * wrong at any provider, so waiting `lastError.retryAfterMs` (the soonest free slot) and trying
   * again is not a provider retry. Every breaker open without any throttling is `allBreakersOpen`.
   */
  get throttledOnly(): boolean {
    return isThrottledOnly(this.attempts);
  }
}

/**
 * Sends through a channel's providers in priority order. A provider-side problem (transient, rate
 * limited, breaker open, bad credentials) hands the message to the next provider; a problem with
 * the message itself (invalid recipient, opted out, token gone, permanently refused) stops here,
 * because another provider would refuse it too.
 */
export class ChannelRouter {
  private readonly permits: SendPermits | undefined;
  /** Provider id → its slots of calls in flight. */
  private readonly inFlight = new Map<string, Semaphore>();

  constructor(
    private readonly providers: ReadonlyMap<Channel, readonly ProtectedAdapter[]>,
    private readonly options: ChannelRouterOptions = {},
  ) {
    this.permits = options.permits;
    for (const [providerId, limit] of options.maxInFlight ?? []) {
      this.inFlight.set(providerId, new Semaphore(limit));
    }
  }

  providersFor(channel: Channel): readonly ProtectedAdapter[] {
    return this.providers.get(channel) ?? [];
  }

  supports(channel: Channel): boolean {
    return this.providersFor(channel).length > 0;
  }

  /** Channel → provider ids in priority order, for the start-up log and health details. */
  describe(): Record<string, string[]> {
    return Object.fromEntries(
      [...this.providers].map(([channel, list]) => [channel, list.map((p) => p.providerId)]),
    );
  }

  /** Provider id → calls in flight now, of those with a bound. */
  callsInFlight(): Record<string, number> {
    return Object.fromEntries([...this.inFlight].map(([id, slots]) => [id, slots.inUse]));
  }

  /** Every breaker's state, for metrics and health. */
  breakerStates(): Array<{ channel: Channel; provider: string; state: string }> {
    return [...this.providers.values()]
      .flat()
      .map((p) => ({ channel: p.channel, provider: p.providerId, state: p.state }));
  }

  /** Stops every breaker's timers and closes every adapter. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.providers.values()].flat().map((provider) => provider.shutdown()));
  }

  /**
   * A provider at its send rate is skipped like a rate-limited one (failover, attempt recorded with
   * vendorCode LOCAL_RATE_LIMIT); when that leaves no provider that was actually asked, the error
   * is `throttledOnly` and its `lastError` says when the soonest slot frees.
   */
  async send(message: OutboundMessage, observer?: AttemptObserver): Promise<RoutedAcceptance> {
    const attempts: ProviderAttempt[] = [];
    const waits: Array<{ provider: string; retryAfterMs: number }> = [];
    let lastError: ChannelError | undefined;
    const permits = this.permits;
    for (const provider of this.providersFor(message.channel)) {
      // An open breaker answers without a request, so it must not use up a slot of the rate.
      const throttled = (retryAfterMs: number): ProviderAttempt => {
        waits.push({ provider: provider.providerId, retryAfterMs });
        lastError = localRateLimit(
          provider.providerId,
          retryAfterMs,
          `${provider.providerId} is at its configured send rate; retry in ${retryAfterMs} ms`,
        );
        const attempt = failedAttempt(provider.providerId, lastError);
        attempts.push(attempt);
        return attempt;
      };
      const permit =
        permits && provider.state !== 'open'
          ? await permits.acquire(provider.providerId)
          : undefined;
      if (permit && !permit.granted) {
        throttled(permit.retryAfterMs);
        continue;
      }
      await observer?.beforeCall(provider.providerId);
      let acceptance: ProviderAcceptance;
      try {
        const called = await this.call(provider, message, permit);
        if ('retryAfterMs' in called) {
          // Held up so long that the grant lapsed, and the window filled meanwhile: no call. The
          // attempt is recorded with or without an observer (`observer?.afterCall(…, throttled())`
          // would skip it without one).
          const attempt = throttled(called.retryAfterMs);
          await observer?.afterCall(provider.providerId, attempt);
          continue;
        }
        acceptance = called.acceptance;
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        lastError = error;
        const attempt = failedAttempt(provider.providerId, error);
        attempts.push(attempt);
        await observer?.afterCall(provider.providerId, attempt);
        if (!traitsOf(error.kind).providerSide) break;
        continue;
      }
      const attempt: ProviderAttempt = {
        provider: provider.providerId,
        outcome: 'accepted',
        detail: `accepted as ${acceptance.providerMessageId}`,
      };
      attempts.push(attempt);
      await observer?.afterCall(provider.providerId, attempt, acceptance);
      return { acceptance, attempts };
    }
    throw new ChannelUnavailableError(
      message.channel,
      attempts,
      (isThrottledOnly(attempts) ? soonestSlot(message.channel, waits) : lastError) ??
        new ChannelError(`no provider is configured for ${message.channel}`, {
          kind: 'configuration',
          provider: 'none',
        }),
    );
  }

  /**
   * Takes a slot of the provider's calls in flight, renews the permit (waiting for the slot may
   * have held it up), calls the provider, frees the slot and tells the permit store the call has
   * ended. Answers how long to wait instead when the renewal found the window full.
   */
  private async call(
    provider: ProtectedAdapter,
    message: OutboundMessage,
    granted: GrantedPermit | undefined,
  ): Promise<{ acceptance: ProviderAcceptance } | { retryAfterMs: number }> {
    const slots = this.inFlight.get(provider.providerId);
    await slots?.acquire();
    let permit = granted;
    if (this.permits && permit) {
      let renewed: SendPermit;
      try {
        renewed = await this.permits.renew(provider.providerId, permit);
      } catch (error) {
        slots?.release();
        throw error;
      }
      if (!renewed.granted) {
        slots?.release();
        return { retryAfterMs: renewed.retryAfterMs };
      }
      permit = renewed;
    }
    // The slot is released before the permit store is told, so it bounds the provider calls only.
    try {
      return { acceptance: await provider.send(message) };
    } finally {
      slots?.release();
      // Best effort: the call has happened, and failing the send now could send it twice. A lost
      // completion leaves the call counted from its grant, which the guard is there for.
      if (permit) {
        await this.permits
          ?.complete(provider.providerId, permit)
          .catch((error: unknown) =>
            this.options.onPermitCompletionFailed?.(provider.providerId, error),
          );
      }
    }
  }
}

function failedAttempt(providerId: string, error: ChannelError): ProviderAttempt {
  return {
    provider: providerId,
    outcome: 'failed',
    errorKind: error.kind,
    vendorCode: error.vendorCode,
    detail: error.message,
  };
}

function localRateLimit(providerId: string, retryAfterMs: number, detail: string): ChannelError {
  return new ChannelError(detail, {
    kind: 'rate_limited',
    provider: providerId,
    vendorCode: LOCAL_RATE_LIMIT,
    retryAfterMs,
  });
}

/**
 * Breaker-open providers count as "not asked" as well, since their breaker refused without a
 * request: a channel whose other providers are merely throttled should wait for the soonest slot,
 * not spend a provider retry.
 */
function isThrottledOnly(attempts: readonly ProviderAttempt[]): boolean {
  return (
    attempts.some((a) => a.vendorCode === LOCAL_RATE_LIMIT) &&
    attempts.every((a) => a.vendorCode === LOCAL_RATE_LIMIT || a.vendorCode === 'BREAKER_OPEN')
  );
}

/** One rate-limited error for the whole channel: the provider whose slot frees first, and when. */
function soonestSlot(
  channel: Channel,
  waits: ReadonlyArray<{ provider: string; retryAfterMs: number }>,
): ChannelError | undefined {
  const [soonest] = [...waits].sort((a, b) => a.retryAfterMs - b.retryAfterMs);
  if (!soonest) return undefined;
  return localRateLimit(
    soonest.provider,
    soonest.retryAfterMs,
    `every ${channel} provider is at its send rate; ${soonest.provider} has room in ${soonest.retryAfterMs} ms`,
  );
}
