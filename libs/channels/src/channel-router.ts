import type { Channel } from '@omnigate/contracts';
import type { OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError } from './channel-error';
import type { ProtectedAdapter } from './provider-breaker';

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
}

/**
 * Sends through a channel's providers in priority order. A provider-side problem (transient, rate
 * limited, breaker open, bad credentials) hands the message to the next provider; a problem with
 * the message itself (invalid recipient, opted out, token gone, permanently refused) stops here,
 * because another provider would refuse it too.
 */
export class ChannelRouter {
  constructor(private readonly providers: ReadonlyMap<Channel, readonly ProtectedAdapter[]>) {}

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

  async send(message: OutboundMessage): Promise<RoutedAcceptance> {
    const attempts: ProviderAttempt[] = [];
    let lastError: ChannelError | undefined;
    for (const provider of this.providersFor(message.channel)) {
      try {
        const acceptance = await provider.send(message);
        attempts.push({
          provider: provider.providerId,
          outcome: 'accepted',
          detail: `accepted as ${acceptance.providerMessageId}`,
        });
        return { acceptance, attempts };
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        lastError = error;
        attempts.push({
          provider: provider.providerId,
          outcome: 'failed',
          errorKind: error.kind,
          vendorCode: error.vendorCode,
          detail: error.message,
        });
        if (!isProviderSide(error)) break;
      }
    }
    throw new ChannelUnavailableError(
      message.channel,
      attempts,
      lastError ??
        new ChannelError(`no provider is configured for ${message.channel}`, {
          kind: 'configuration',
          provider: 'none',
        }),
    );
  }
}

function isProviderSide(error: ChannelError): boolean {
  return (
    error.kind === 'transient' || error.kind === 'rate_limited' || error.kind === 'configuration'
  );
}
