import type { Channel, SendCommand } from '@omnigate/contracts';

type InlineContent = NonNullable<SendCommand['content']>;

/** The content one channel carries, as the command gave it (templates are rendered before this). */
export type ChannelContent<C extends Channel = Channel> = NonNullable<InlineContent[C]>;

/** One message on one channel to one address, ready for a provider. */
export interface OutboundMessage<C extends Channel = Channel> {
  readonly messageId: string;
  readonly customerId: string;
  readonly channel: C;
  /** Phone number, email address, push token or serialized push subscription. */
  readonly address: string;
  readonly content: ChannelContent<C>;
  /** The command's category, e.g. order_updates; providers use it for tagging (SendGrid categories). */
  readonly category: string;
  readonly priority: 'high' | 'normal' | 'low';
  /** How long the message stays worth delivering; push providers use it as their TTL. */
  readonly ttlSeconds?: number;
}

/** What a provider said when it took the message. */
export interface ProviderAcceptance {
  readonly provider: string;
  readonly providerMessageId: string;
  readonly acceptedAt: Date;
}

/**
 * The port every provider adapter implements. `send` resolves when the provider accepted the
 * message and rejects with a ChannelError otherwise; it never decides about retries or fallback.
 */
export interface ChannelAdapter<C extends Channel = Channel> {
  readonly channel: C;
  readonly providerId: string;
  send(message: OutboundMessage<C>): Promise<ProviderAcceptance>;
  /** Releases what the adapter holds (SDK apps, pooled connections); called once at shutdown. */
  close?(): Promise<void>;
}
