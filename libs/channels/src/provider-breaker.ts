import CircuitBreaker from 'opossum';
import type { Channel } from '@omnigate/contracts';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError } from './channel-error';
import { traitsOf } from './error-kinds';

export interface BreakerSettings {
  /** A provider call slower than this fails as a timeout (the call itself is not cancelled). */
  readonly timeoutMs: number;
  /** Percentage of failed calls in the rolling window that opens the breaker. */
  readonly errorThresholdPercentage: number;
  /** How long the breaker stays open before one probe call is let through. */
  readonly resetTimeoutMs: number;
  readonly rollingCountTimeoutMs: number;
  /** Calls in the window before the percentage is considered at all. */
  readonly volumeThreshold: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerStateChange {
  readonly channel: Channel;
  readonly provider: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
}

/** Opossum's own error codes for calls it refused or gave up on. */
const BREAKER_OPEN_CODES = new Set(['EOPENBREAKER', 'ESEMLOCKED']);

/**
 * An adapter behind its own circuit breaker. While the breaker is open, `send` fails at once with
 * a transient ChannelError whose vendorCode is BREAKER_OPEN, so the router moves on without
 * waiting on a provider that is down.
 */
export class ProtectedAdapter {
  private readonly breaker: CircuitBreaker<[OutboundMessage], ProviderAcceptance>;
  private currentState: BreakerState = 'closed';

  constructor(
    readonly adapter: ChannelAdapter,
    settings: BreakerSettings,
    onStateChange: (change: BreakerStateChange) => void,
  ) {
    this.breaker = new CircuitBreaker((message: OutboundMessage) => adapter.send(message), {
      name: `${adapter.channel}:${adapter.providerId}`,
      timeout: settings.timeoutMs,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      resetTimeout: settings.resetTimeoutMs,
      rollingCountTimeout: settings.rollingCountTimeoutMs,
      volumeThreshold: settings.volumeThreshold,
      // A fault of the message, not the provider, is filtered out of the breaker's failures.
      errorFilter: (error: unknown) =>
        error instanceof ChannelError && !traitsOf(error.kind).countsAgainstBreaker,
    });
    const move = (to: BreakerState) => () => {
      const from = this.currentState;
      if (from === to) return;
      this.currentState = to;
      onStateChange({ channel: adapter.channel, provider: adapter.providerId, from, to });
    };
    this.breaker.on('open', move('open'));
    this.breaker.on('halfOpen', move('half_open'));
    this.breaker.on('close', move('closed'));
  }

  get channel(): Channel {
    return this.adapter.channel;
  }

  get providerId(): string {
    return this.adapter.providerId;
  }

  get state(): BreakerState {
    return this.currentState;
  }

  async send(message: OutboundMessage): Promise<ProviderAcceptance> {
    try {
      return await this.breaker.fire(message);
    } catch (error) {
      throw this.translate(error);
    }
  }

  async shutdown(): Promise<void> {
    this.breaker.shutdown();
    await this.adapter.close?.();
  }

  private translate(error: unknown): ChannelError {
    if (error instanceof ChannelError) return error;
    const code = error instanceof Error ? (error as Error & { code?: string }).code : undefined;
    if (code && BREAKER_OPEN_CODES.has(code)) {
      return new ChannelError(
        `${this.providerId} is not taking messages: its circuit breaker is open`,
        {
          kind: 'transient',
          provider: this.providerId,
          vendorCode: 'BREAKER_OPEN',
          cause: error,
        },
      );
    }
    if (code === 'ETIMEDOUT') {
      // The call goes on after opossum gives up on it, so the provider may still accept it.
      return new ChannelError(
        `${this.providerId} did not answer in time; it may have sent the message`,
        {
          kind: 'outcome_unknown',
          provider: this.providerId,
          vendorCode: 'TIMEOUT',
          cause: error,
        },
      );
    }
    // An adapter must translate its vendor's errors; anything else is a defect and not retryable.
    return new ChannelError(
      `${this.providerId} failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`,
      { kind: 'permanent', provider: this.providerId, vendorCode: 'UNCLASSIFIED', cause: error },
    );
  }
}
