import type {
  Channel,
  SendCommand,
  SuppressionReason,
  TraceEntry,
  WebPushSubscription,
} from '@omnigate/contracts';

/**
 * The customer and category data the planner decides on. Pure data: repositories load it, the
 * planner reads it, nothing here does I/O.
 */

export interface ContactPoint {
  /** E.164 phone number or email address. */
  readonly value: string;
  readonly verified?: boolean;
  readonly lastSeenAt?: string;
}

export interface StoredFcmToken {
  readonly token: string;
  readonly device?: string;
  readonly platform?: 'android' | 'ios' | 'web';
  readonly lastSeenAt?: string;
}

export interface StoredWebPushSubscription {
  readonly subscription: WebPushSubscription;
  readonly device?: string;
  readonly lastSeenAt?: string;
}

export interface ConsentRecord {
  readonly channel: Channel;
  /** A category the record is limited to; absent means every category. */
  readonly category?: string;
  readonly granted: boolean;
  /** Where the consent was given or withdrawn, e.g. "signup-form", "sms-stop". */
  readonly source: string;
  readonly at: string;
}

export interface QuietHours {
  /** Local wall-clock times "HH:MM" in the customer's time zone; end < start crosses midnight. */
  readonly start: string;
  readonly end: string;
}

export interface CustomerProfile {
  readonly customerId: string;
  readonly phones: readonly ContactPoint[];
  readonly emails: readonly ContactPoint[];
  readonly whatsapp: readonly ContactPoint[];
  readonly webPushSubscriptions: readonly StoredWebPushSubscription[];
  readonly fcmTokens: readonly StoredFcmToken[];
  /** The customer's own channel order; empty means no preference. */
  readonly preferredChannels: readonly Channel[];
  /**
   * Opt-in (true) or opt-out (false) per category and channel; the category "*" applies to every
   * category, and a category's own entry wins over "*".
   */
  readonly channelPreferences: Readonly<
    Record<string, Readonly<Partial<Record<Channel, boolean>>>>
  >;
  readonly consents: readonly ConsentRecord[];
  /** IANA time zone, e.g. Europe/Berlin. */
  readonly timeZone: string;
  readonly locale?: string;
  readonly quietHours?: QuietHours;
  readonly version: number;
  readonly updatedAt: string;
}

export type QuietHoursBehaviour = 'ignore' | 'defer' | 'drop';

/** The receipt that ends an escalation's wait: `read` also satisfies `delivered`. */
export type EscalationCondition = 'delivered' | 'read';

/** "If not delivered (or read) within afterSeconds of the send, try the next channel." */
export interface EscalationPolicy {
  readonly unless: EscalationCondition;
  readonly afterSeconds: number;
}

export interface CategoryPolicy {
  readonly category: string;
  /** Transactional sends are never blocked by caps (they still count) and ignore marketing consent. */
  readonly transactional: boolean;
  /** Whether a customer's opt-out applies; false for required categories such as security alerts. */
  readonly optOutAllowed: boolean;
  /** Whether a granted consent record is needed per channel (marketing). */
  readonly requiresConsent: boolean;
  readonly allowedChannels: readonly Channel[];
  /** Channel order when neither the command nor the customer gives one. */
  readonly fallbackChain: readonly Channel[];
  readonly quietHours: QuietHoursBehaviour;
  /** Default time to live when the command gives none. */
  readonly ttlSeconds: number;
  /** Try the next candidate channel when the sent one reports no delivery (or read) in time. */
  readonly escalation?: EscalationPolicy;
}

/** Why a channel was left out. */
export const SKIP_REASONS = [
  'NOT_ALLOWED_FOR_CATEGORY',
  'OPTED_OUT',
  'NO_CONSENT',
  'NO_CONTACT',
  'NO_CONTENT',
  'NO_PROVIDER',
  'SUPPRESSED',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface ChannelCandidate {
  readonly channel: Channel;
  /** Phone, email, FCM token, or the JSON of a web push subscription. */
  readonly address: string;
}

export interface PlanInput {
  readonly command: SendCommand;
  /** The stored profile, or null when the customer is unknown (the command's recipient is all we have). */
  readonly profile: CustomerProfile | null;
  readonly policy: CategoryPolicy;
  readonly now: Date;
  /** When the command entered Kafka; the TTL runs from createdAt, else from here. */
  readonly receivedAt: Date;
  readonly capabilities: {
    hasContent(channel: Channel): boolean;
    isSupported(channel: Channel): boolean;
    /**
     * Why this address must not receive this channel for this category (a STOP reply, a hard
     * bounce, …), or undefined. Absent: nothing is suppressed.
     */
    suppression?(channel: Channel, address: string, category: string): Suppression | undefined;
  };
  /** Decisions an admin took over for one resend (audited by the admin API). */
  readonly overrides?: PlanOverrides;
}

/** A suppression of one address on one channel, as the planner needs to know it. */
export interface Suppression {
  readonly reason: SuppressionReason;
  /** '*' for every category, else the category it holds for. */
  readonly scope: string;
  /** When it began (ISO 8601). */
  readonly since: string;
}

export interface PlanOverrides {
  /** Send on a channel the customer opted out of. */
  readonly ignoreOptOut?: boolean;
  /** Send past full frequency caps (still counted); read by dispatch, not by the planner. */
  readonly ignoreCaps?: boolean;
}

export type PlanResult =
  /** Try these channels in order. */
  | {
      readonly kind: 'send';
      readonly candidates: readonly ChannelCandidate[];
      readonly expiresAt: Date;
      readonly locale?: string;
      readonly trace: readonly TraceEntry[];
    }
  /** Quiet hours with the "defer" behaviour: plan again at `until`. */
  | { readonly kind: 'defer'; readonly until: Date; readonly trace: readonly TraceEntry[] }
  /** Quiet hours with the "drop" behaviour, or every channel opted out: a SUPPRESSED receipt. */
  | {
      readonly kind: 'suppress';
      readonly reasonCode: string;
      readonly trace: readonly TraceEntry[];
    }
  /** Past its time to live (also when quiet hours would end after it). */
  | { readonly kind: 'expired'; readonly expiresAt: Date; readonly trace: readonly TraceEntry[] }
  /** No channel can carry it (no contact, content or provider): a FAILED receipt. */
  | { readonly kind: 'undeliverable'; readonly trace: readonly TraceEntry[] };
