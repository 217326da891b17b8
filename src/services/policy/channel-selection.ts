import { CHANNELS, type Channel, type SendCommand } from '@omnigate/contracts';

/** One channel considered for a message, and what was decided about it, in words. */
export interface ChannelConsideration {
  readonly channel: Channel;
  readonly decision: 'chosen' | 'skipped';
  readonly reasonCode?: string;
  readonly detail: string;
}

export interface ChannelSelection {
  readonly chosen: { readonly channel: Channel; readonly address: string } | null;
  readonly trace: readonly ChannelConsideration[];
}

/** The address a channel would use, taken from the command's recipient block. */
export function addressFor(command: SendCommand, channel: Channel): string | undefined {
  const recipient = command.recipient ?? {};
  switch (channel) {
    case 'sms':
      return recipient.phone;
    case 'whatsapp':
      return recipient.whatsapp;
    case 'email':
      return recipient.email;
    case 'webpush': {
      const subscription = recipient.webPushSubscriptions?.[0];
      return subscription ? JSON.stringify(subscription) : undefined;
    }
    case 'mobilepush':
      return recipient.fcmTokens?.[0];
  }
}

/**
 * Picks the first channel, in the command's order (or the gateway's default order), that has
 * content, an address and a configured provider. Pure: every skipped channel is explained.
 * The full planner (preferences, consent, quiet hours, caps) replaces this in a later step.
 */
export function selectChannel(
  command: SendCommand,
  isSupported: (channel: Channel) => boolean,
): ChannelSelection {
  const order: readonly Channel[] = command.channels ?? CHANNELS;
  const trace: ChannelConsideration[] = [];
  for (const channel of order) {
    if (!command.content?.[channel]) {
      trace.push({
        channel,
        decision: 'skipped',
        reasonCode: 'NO_CONTENT',
        detail: `the command has no ${channel} content`,
      });
      continue;
    }
    const address = addressFor(command, channel);
    if (!address) {
      trace.push({
        channel,
        decision: 'skipped',
        reasonCode: 'NO_CONTACT',
        detail: `the recipient has no ${channel} contact`,
      });
      continue;
    }
    if (!isSupported(channel)) {
      trace.push({
        channel,
        decision: 'skipped',
        reasonCode: 'NO_PROVIDER',
        detail: `no provider is configured for ${channel}`,
      });
      continue;
    }
    trace.push({
      channel,
      decision: 'chosen',
      detail: `${channel} is the first channel with content, a contact and a provider`,
    });
    return { chosen: { channel, address }, trace };
  }
  return { chosen: null, trace };
}

/** When the command stops being worth sending, if it says. */
export function expiryOf(command: SendCommand, receivedAt: Date): Date | null {
  if (command.expiresAt) return new Date(command.expiresAt);
  if (command.ttlSeconds !== undefined) {
    const start = command.createdAt ? new Date(command.createdAt) : receivedAt;
    return new Date(start.getTime() + command.ttlSeconds * 1000);
  }
  return null;
}
