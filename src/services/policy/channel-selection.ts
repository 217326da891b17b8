import { CHANNELS, type Channel, type SendCommand } from '@omnigate/contracts';

/** One channel considered for a message, and what was decided about it, in words. */
export interface ChannelConsideration {
  readonly channel: Channel;
  readonly decision: 'chosen' | 'skipped';
  readonly reasonCode?: string;
  readonly detail: string;
}

export interface ChannelCandidate {
  readonly channel: Channel;
  readonly address: string;
}

export interface ChannelPlan {
  /** Channels to try, in order; the first that takes the message wins. */
  readonly candidates: readonly ChannelCandidate[];
  readonly trace: readonly ChannelConsideration[];
}

export interface ChannelCapabilities {
  hasContent(channel: Channel): boolean;
  isSupported(channel: Channel): boolean;
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
 * Orders the channels that could carry the command (its own order, or the gateway's default) and
 * explains every channel left out. Pure: the full planner (preferences, consent, quiet hours,
 * caps) grows from this in a later step.
 */
export function planChannels(command: SendCommand, capabilities: ChannelCapabilities): ChannelPlan {
  const order: readonly Channel[] = command.channels ?? CHANNELS;
  const trace: ChannelConsideration[] = [];
  const candidates: ChannelCandidate[] = [];
  for (const channel of order) {
    if (!capabilities.hasContent(channel)) {
      trace.push({
        channel,
        decision: 'skipped',
        reasonCode: 'NO_CONTENT',
        detail: `there is no ${channel} content for this message`,
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
    if (!capabilities.isSupported(channel)) {
      trace.push({
        channel,
        decision: 'skipped',
        reasonCode: 'NO_PROVIDER',
        detail: `no provider is configured for ${channel}`,
      });
      continue;
    }
    const position = candidates.length === 0 ? 'first choice' : `fallback ${candidates.length}`;
    trace.push({
      channel,
      decision: 'chosen',
      detail: `${channel} is the ${position}: it has content, a contact and a provider`,
    });
    candidates.push({ channel, address });
  }
  return { candidates, trace };
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
