import type { Channel, SendCommand } from '@omnigate/contracts';
import type { ContactPoint, CustomerProfile } from './model';

/**
 * Merges the command's recipient block over the stored profile, one channel at a time: whatever
 * the command gives for a channel wins for that channel, and the profile fills the rest.
 */

/** Where an address came from, so the trace can say so without repeating the address itself. */
export type ContactSource = 'command' | 'profile-verified' | 'profile';

export interface ResolvedContact {
  readonly address: string;
  readonly source: ContactSource;
}

/** Sorts missing or unreadable timestamps last, as if never seen. */
function seenAt(lastSeenAt: string | undefined): number {
  if (lastSeenAt === undefined) return Number.NEGATIVE_INFINITY;
  const ms = Date.parse(lastSeenAt);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/**
 * The best of several stored entries: highest rank first, then most recently seen, then the
 * earliest in the list. Array.prototype.sort is stable, so equal entries keep their list order.
 */
function best<T>(
  entries: readonly T[],
  rank: (entry: T) => number,
  lastSeenAt: (entry: T) => string | undefined,
): T | undefined {
  return [...entries].sort(
    (a, b) => rank(b) - rank(a) || seenAt(lastSeenAt(b)) - seenAt(lastSeenAt(a)),
  )[0];
}

function bestContactPoint(points: readonly ContactPoint[]): ResolvedContact | undefined {
  // An empty value is a data error in the store, not an address worth trying.
  const usable = points.filter((point) => point.value !== '');
  const chosen = best(
    usable,
    (point) => (point.verified === true ? 1 : 0),
    (point) => point.lastSeenAt,
  );
  if (chosen === undefined) return undefined;
  return {
    address: chosen.value,
    source: chosen.verified === true ? 'profile-verified' : 'profile',
  };
}

function fromCommand(channel: Channel, command: SendCommand): string | undefined {
  // Optional chaining on recipient: the contract is moving to an optional recipient block.
  const recipient = command.recipient;
  switch (channel) {
    case 'sms':
      return recipient?.phone;
    case 'whatsapp':
      return recipient?.whatsapp;
    case 'email':
      return recipient?.email;
    case 'webpush': {
      const subscription = recipient?.webPushSubscriptions?.[0];
      return subscription === undefined ? undefined : JSON.stringify(subscription);
    }
    case 'mobilepush':
      return recipient?.fcmTokens?.[0];
  }
}

function fromProfile(channel: Channel, profile: CustomerProfile): ResolvedContact | undefined {
  switch (channel) {
    case 'sms':
      return bestContactPoint(profile.phones);
    // Only the WhatsApp list: a phone number is not known to have WhatsApp.
    case 'whatsapp':
      return bestContactPoint(profile.whatsapp);
    case 'email':
      return bestContactPoint(profile.emails);
    case 'webpush': {
      const chosen = best(
        profile.webPushSubscriptions,
        () => 0,
        (entry) => entry.lastSeenAt,
      );
      return chosen === undefined
        ? undefined
        : { address: JSON.stringify(chosen.subscription), source: 'profile' };
    }
    case 'mobilepush': {
      const chosen = best(
        profile.fcmTokens.filter((entry) => entry.token !== ''),
        () => 0,
        (entry) => entry.lastSeenAt,
      );
      return chosen === undefined ? undefined : { address: chosen.token, source: 'profile' };
    }
  }
}

/** The address for a channel and where it came from, or undefined when there is none. */
export function resolveContact(
  channel: Channel,
  command: SendCommand,
  profile: CustomerProfile | null,
): ResolvedContact | undefined {
  const own = fromCommand(channel, command);
  if (own !== undefined && own !== '') return { address: own, source: 'command' };
  return profile === null ? undefined : fromProfile(channel, profile);
}

/** The address a channel would use: the command's contact for it, else the profile's best one. */
export function addressFor(
  channel: Channel,
  command: SendCommand,
  profile: CustomerProfile | null,
): string | undefined {
  return resolveContact(channel, command, profile)?.address;
}
