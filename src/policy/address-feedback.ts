import type { Channel, SuppressionReason } from '@omnigate/contracts';

/**
 * What a provider's refusal says about the address itself, so the gateway stops writing to it:
 * a web push subscription the push service answered 404/410 for, an FCM token that is
 * unregistered or invalid, a phone number Twilio refuses with 21610 because its owner replied
 * STOP. Pure: the dispatch service reads the router's attempts, asks this, and records the answer.
 */
export interface RefusedAttempt {
  readonly outcome: 'accepted' | 'failed';
  readonly errorKind?: string;
  readonly vendorCode?: string;
}

/** Twilio: "the recipient has unsubscribed (replied STOP)". */
const TWILIO_STOPPED = '21610';

export function suppressionFromAttempt(
  channel: Channel,
  attempt: RefusedAttempt,
): SuppressionReason | undefined {
  if (attempt.outcome !== 'failed') return undefined;
  switch (channel) {
    case 'webpush':
      return attempt.errorKind === 'unreachable_token' ? 'SUBSCRIPTION_GONE' : undefined;
    case 'mobilepush':
      return attempt.errorKind === 'unreachable_token' || attempt.errorKind === 'invalid_recipient'
        ? 'SUBSCRIPTION_GONE'
        : undefined;
    case 'sms':
    case 'whatsapp':
      return attempt.errorKind === 'recipient_opted_out' && attempt.vendorCode === TWILIO_STOPPED
        ? 'STOP_KEYWORD'
        : undefined;
    case 'email':
      return undefined;
  }
}

/**
 * The part of an address that names it for suppressions: a web push subscription by its endpoint
 * (its keys may be renewed, its JSON written in another key order), everything else as it is.
 */
export function addressIdentity(channel: Channel, address: string): string {
  if (channel !== 'webpush') return address;
  try {
    const parsed: unknown = JSON.parse(address);
    if (typeof parsed === 'object' && parsed !== null && 'endpoint' in parsed) {
      const { endpoint } = parsed;
      if (typeof endpoint === 'string') return endpoint;
    }
  } catch {
    // Not JSON: an endpoint given bare is its own identity.
  }
  return address;
}
