import { CHANNELS, type Channel } from '@omnigate/contracts';
import type { ChannelAdapter } from './channel-adapter';

/**
 * Adapters per channel in priority order. Built once at boot from configuration; a channel with no
 * adapter simply cannot be chosen, and a provider named in configuration but unknown stops start-up
 * (see buildChannelRegistry).
 */
export class ChannelRegistry {
  private readonly byChannel: ReadonlyMap<Channel, readonly ChannelAdapter[]>;

  constructor(adapters: readonly ChannelAdapter[]) {
    const byChannel = new Map<Channel, ChannelAdapter[]>();
    for (const adapter of adapters) {
      const list = byChannel.get(adapter.channel) ?? [];
      if (list.some((existing) => existing.providerId === adapter.providerId)) {
        throw new Error(
          `provider ${adapter.providerId} is configured twice for ${adapter.channel}`,
        );
      }
      list.push(adapter);
      byChannel.set(adapter.channel, list);
    }
    this.byChannel = byChannel;
  }

  providersFor(channel: Channel): readonly ChannelAdapter[] {
    return this.byChannel.get(channel) ?? [];
  }

  supports(channel: Channel): boolean {
    return this.providersFor(channel).length > 0;
  }

  /** Channel → provider ids, for the start-up log and health details. */
  describe(): Record<string, string[]> {
    return Object.fromEntries(
      CHANNELS.filter((c) => this.supports(c)).map((c) => [
        c,
        this.providersFor(c).map((a) => a.providerId),
      ]),
    );
  }
}

export type AdapterFactory = (channel: Channel) => ChannelAdapter;

/**
 * Builds the registry from `channel → provider ids`. Every unknown provider id is collected and
 * reported in one error so a bad configuration is fixed in one go.
 */
export function buildChannelRegistry(
  providersByChannel: Readonly<Partial<Record<Channel, readonly string[]>>>,
  factories: Readonly<Record<string, AdapterFactory>>,
): ChannelRegistry {
  const problems: string[] = [];
  const adapters: ChannelAdapter[] = [];
  for (const channel of CHANNELS) {
    for (const providerId of providersByChannel[channel] ?? []) {
      const factory = factories[providerId];
      if (!factory) {
        problems.push(`${channel}: unknown provider "${providerId}"`);
        continue;
      }
      adapters.push(factory(channel));
    }
  }
  if (problems.length > 0) {
    throw new Error(`channel configuration is invalid: ${problems.join('; ')}`);
  }
  return new ChannelRegistry(adapters);
}
