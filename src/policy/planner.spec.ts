import {
  traceEntrySchema,
  validateSendCommand,
  type Channel,
  type SendCommand,
  type SendCommandInput,
  type TraceDecision,
  type TraceEntry,
} from '@omnigate/contracts';
import type {
  CategoryPolicy,
  CustomerProfile,
  PlanOverrides,
  PlanResult,
  Suppression,
} from './model';
import { plan } from './planner';

// 2026-06-15 14:00 in Berlin (CEST, +02:00).
const NOW = '2026-06-15T12:00:00.000Z';

const SUB_A = {
  endpoint: 'https://push.example.com/sub-a',
  keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQ', auth: 'tBHItJI5svbpez7KI4CCXg' },
};
const SUB_B = {
  endpoint: 'https://push.example.com/sub-b',
  keys: { p256dh: 'BPb2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u', auth: 'aBHItJI5svbpez7KI4CCXg' },
};

const BASE_PROFILE: CustomerProfile = {
  customerId: 'cust-1',
  phones: [{ value: '+4915100000001', verified: true }],
  emails: [{ value: 'anna@example.com', verified: true }],
  whatsapp: [{ value: '+4915100000009' }],
  webPushSubscriptions: [{ subscription: SUB_A }],
  fcmTokens: [{ token: 'fcm-profile-1' }],
  preferredChannels: [],
  channelPreferences: {},
  consents: [],
  timeZone: 'Europe/Berlin',
  locale: 'de-DE',
  version: 3,
  updatedAt: '2026-01-01T00:00:00Z',
};

const BASE_POLICY: CategoryPolicy = {
  category: 'order_updates',
  transactional: false,
  optOutAllowed: true,
  requiresConsent: false,
  allowedChannels: ['sms', 'email', 'whatsapp', 'webpush', 'mobilepush'],
  fallbackChain: ['mobilepush', 'email', 'sms'],
  quietHours: 'defer',
  ttlSeconds: 86_400,
};

const NIGHT = { start: '22:00', end: '07:00' };

type Decision = readonly [Channel, TraceDecision, string?];

interface Want {
  readonly kind: PlanResult['kind'];
  /** The whole trace, in order: channel, decision, reason code. */
  readonly trace?: readonly Decision[];
  readonly candidates?: readonly (readonly [Channel, string])[];
  readonly reasonCode?: string;
  readonly until?: string;
  readonly expiresAt?: string;
  /** Checked only when the key is present (undefined means "no locale"). */
  readonly locale?: string | undefined;
  /** Substrings that must appear in the trace details. */
  readonly details?: readonly string[];
}

interface Case {
  readonly name: string;
  readonly command?: Partial<SendCommandInput>;
  /** Merged over BASE_PROFILE; null means the customer is unknown. */
  readonly profile?: Partial<CustomerProfile> | null;
  readonly policy?: Partial<CategoryPolicy>;
  readonly now?: string;
  /** Defaults to one minute before `now`. */
  readonly receivedAt?: string;
  readonly noContent?: readonly Channel[];
  readonly unsupported?: readonly Channel[];
  /** Suppressions by channel and address; a scope other than '*' holds for that category only. */
  readonly suppressed?: ReadonlyArray<readonly [Channel, string, Suppression]>;
  readonly overrides?: PlanOverrides;
  readonly want: Want;
}

function makeCommand(overrides: Partial<SendCommandInput> = {}): SendCommand {
  // An empty recipient: most cases take contacts from the profile (see the report on `recipient`).
  const result = validateSendCommand({
    id: 'cmd-1',
    customerId: 'cust-1',
    category: 'order_updates',
    recipient: {},
    template: { id: 'order-shipped' },
    ...overrides,
  });
  if (!result.ok) throw new Error(`bad test command: ${result.rejection.message}`);
  return result.command;
}

function run(c: Case): PlanResult {
  const now = new Date(c.now ?? NOW);
  return plan({
    command: makeCommand(c.command),
    profile: c.profile === null ? null : { ...BASE_PROFILE, ...c.profile },
    policy: { ...BASE_POLICY, ...c.policy },
    now,
    receivedAt:
      c.receivedAt === undefined ? new Date(now.getTime() - 60_000) : new Date(c.receivedAt),
    capabilities: {
      hasContent: (channel) => !(c.noContent ?? []).includes(channel),
      isSupported: (channel) => !(c.unsupported ?? []).includes(channel),
      suppression: (channel, address, category) =>
        c.suppressed?.find(
          ([ch, to, found]) =>
            ch === channel && to === address && (found.scope === '*' || found.scope === category),
        )?.[2],
    },
    ...(c.overrides && { overrides: c.overrides }),
  });
}

const decisions = (trace: readonly TraceEntry[]): Decision[] =>
  trace.map((entry) =>
    entry.reasonCode === undefined
      ? [entry.channel, entry.decision]
      : [entry.channel, entry.decision, entry.reasonCode],
  );

const CASES: Case[] = [
  // ---- channel order -------------------------------------------------------------------------
  {
    name: 'order: policy fallback chain when neither command nor profile gives one',
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'chosen'],
        ['email', 'chosen'],
        ['sms', 'chosen'],
      ],
      candidates: [
        ['mobilepush', 'fcm-profile-1'],
        ['email', 'anna@example.com'],
        ['sms', '+4915100000001'],
      ],
      locale: 'de-DE',
      expiresAt: '2026-06-16T11:59:00.000Z',
    },
  },
  {
    name: "order: the command's channels, and only those",
    command: { channels: ['sms', 'email'] },
    profile: { preferredChannels: ['whatsapp'] },
    want: {
      kind: 'send',
      trace: [
        ['sms', 'chosen'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: "order: the profile's preference, then fallback entries not already listed",
    profile: { preferredChannels: ['whatsapp', 'email'] },
    want: {
      kind: 'send',
      trace: [
        ['whatsapp', 'chosen'],
        ['email', 'chosen'],
        ['mobilepush', 'chosen'],
        ['sms', 'chosen'],
      ],
    },
  },
  {
    name: 'order: a channel repeated in the profile preference is considered once',
    profile: { preferredChannels: ['sms', 'sms', 'email'] },
    want: {
      kind: 'send',
      trace: [
        ['sms', 'chosen'],
        ['email', 'chosen'],
        ['mobilepush', 'chosen'],
      ],
    },
  },
  {
    name: 'order: unknown customer uses the fallback chain and the command contacts only',
    profile: null,
    command: { recipient: { email: 'guest@example.com' } },
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'skipped', 'NO_CONTACT'],
        ['email', 'chosen'],
        ['sms', 'skipped', 'NO_CONTACT'],
      ],
      candidates: [['email', 'guest@example.com']],
      locale: undefined,
      details: ['the customer has no stored profile'],
    },
  },
  {
    name: 'order: no channel to consider at all is undeliverable with an empty trace',
    policy: { fallbackChain: [] },
    want: { kind: 'undeliverable', trace: [] },
  },

  // ---- skip reasons and their precedence -----------------------------------------------------
  {
    name: 'skip: NOT_ALLOWED_FOR_CATEGORY',
    command: { channels: ['whatsapp', 'email'] },
    policy: { allowedChannels: ['email', 'sms'] },
    want: {
      kind: 'send',
      trace: [
        ['whatsapp', 'skipped', 'NOT_ALLOWED_FOR_CATEGORY'],
        ['email', 'chosen'],
      ],
      details: ['WhatsApp is not allowed for "order_updates" messages'],
    },
  },
  {
    name: 'skip: OPTED_OUT for this category',
    profile: { channelPreferences: { order_updates: { mobilepush: false } } },
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'skipped', 'OPTED_OUT'],
        ['email', 'chosen'],
        ['sms', 'chosen'],
      ],
      details: ['opted out of mobile push for "order_updates" messages'],
    },
  },
  {
    name: 'skip: OPTED_OUT through "*" (every category)',
    profile: { channelPreferences: { '*': { email: false } } },
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'chosen'],
        ['email', 'skipped', 'OPTED_OUT'],
        ['sms', 'chosen'],
      ],
      details: ['opted out of email for all messages'],
    },
  },
  {
    name: 'preferences: a category opt-in wins over a "*" opt-out',
    command: { channels: ['sms'] },
    profile: { channelPreferences: { '*': { sms: false }, order_updates: { sms: true } } },
    want: { kind: 'send', trace: [['sms', 'chosen']] },
  },
  {
    name: 'preferences: a category opt-out wins over a "*" opt-in',
    command: { channels: ['sms', 'email'] },
    profile: { channelPreferences: { '*': { sms: true }, order_updates: { sms: false } } },
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'OPTED_OUT'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: "preferences: another category's opt-out does not apply",
    command: { channels: ['sms'] },
    profile: { channelPreferences: { promotions: { sms: false } } },
    want: { kind: 'send', trace: [['sms', 'chosen']] },
  },
  {
    name: 'required category: the opt-out does not apply and the trace says so',
    command: { channels: ['sms'], category: 'security_alerts' },
    policy: { category: 'security_alerts', optOutAllowed: false },
    profile: { channelPreferences: { '*': { sms: false } } },
    want: {
      kind: 'send',
      trace: [['sms', 'chosen']],
      details: ['"security_alerts" is a required category, so the opt-out does not apply'],
    },
  },
  {
    name: 'suppress OPTED_OUT when every channel is opted out',
    profile: { channelPreferences: { '*': { sms: false, email: false, mobilepush: false } } },
    want: {
      kind: 'suppress',
      reasonCode: 'OPTED_OUT',
      trace: [
        ['mobilepush', 'skipped', 'OPTED_OUT'],
        ['email', 'skipped', 'OPTED_OUT'],
        ['sms', 'skipped', 'OPTED_OUT'],
      ],
    },
  },
  {
    name: 'suppress NO_CONSENT when consent is required and none is on file',
    policy: { requiresConsent: true },
    want: {
      kind: 'suppress',
      reasonCode: 'NO_CONSENT',
      trace: [
        ['mobilepush', 'skipped', 'NO_CONSENT'],
        ['email', 'skipped', 'NO_CONSENT'],
        ['sms', 'skipped', 'NO_CONSENT'],
      ],
      details: ['has not given consent to SMS messages'],
    },
  },
  {
    name: 'suppress OPTED_OUT when channels are a mix of opted out and no consent',
    command: { channels: ['sms', 'email'] },
    policy: { requiresConsent: true },
    profile: { channelPreferences: { '*': { sms: false } } },
    want: {
      kind: 'suppress',
      reasonCode: 'OPTED_OUT',
      trace: [
        ['sms', 'skipped', 'OPTED_OUT'],
        ['email', 'skipped', 'NO_CONSENT'],
      ],
    },
  },
  {
    name: 'consent: the latest record wins (withdrawn after granted)',
    command: { channels: ['sms', 'email'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        { channel: 'sms', granted: true, source: 'signup-form', at: '2026-01-01T00:00:00Z' },
        { channel: 'sms', granted: false, source: 'sms-stop', at: '2026-03-01T00:00:00Z' },
        { channel: 'email', granted: true, source: 'signup-form', at: '2026-01-01T00:00:00Z' },
      ],
    },
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'NO_CONSENT'],
        ['email', 'chosen'],
      ],
      details: ['withdrew consent to SMS messages on 2026-03-01T00:00:00Z (via sms-stop)'],
    },
  },
  {
    name: 'consent: the latest record wins (granted after withdrawn, listed first)',
    command: { channels: ['sms'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        { channel: 'sms', granted: true, source: 'settings', at: '2026-04-01T00:00:00Z' },
        { channel: 'sms', granted: false, source: 'sms-stop', at: '2026-02-01T00:00:00Z' },
      ],
    },
    want: { kind: 'send', trace: [['sms', 'chosen']] },
  },
  {
    name: 'consent: a newer general withdrawal (a STOP) beats an older category grant',
    command: { channels: ['email'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        {
          channel: 'email',
          category: 'order_updates',
          granted: true,
          source: 'checkout',
          at: '2026-01-01T00:00:00Z',
        },
        { channel: 'email', granted: false, source: 'settings', at: '2026-05-01T00:00:00Z' },
      ],
    },
    want: {
      kind: 'suppress',
      reasonCode: 'NO_CONSENT',
      trace: [['email', 'skipped', 'NO_CONSENT']],
    },
  },
  {
    name: 'consent: a category grant newer than a general withdrawal wins',
    command: { channels: ['email'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        { channel: 'email', granted: false, source: 'settings', at: '2026-01-01T00:00:00Z' },
        {
          channel: 'email',
          category: 'order_updates',
          granted: true,
          source: 'checkout',
          at: '2026-05-01T00:00:00Z',
        },
      ],
    },
    want: { kind: 'send', trace: [['email', 'chosen']] },
  },
  {
    name: 'consent: a category-specific withdrawal wins over a newer general grant',
    command: { channels: ['email'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        { channel: 'email', granted: true, source: 'signup-form', at: '2026-05-01T00:00:00Z' },
        {
          channel: 'email',
          category: 'order_updates',
          granted: false,
          source: 'unsubscribe-link',
          at: '2026-01-01T00:00:00Z',
        },
      ],
    },
    want: {
      kind: 'suppress',
      reasonCode: 'NO_CONSENT',
      trace: [['email', 'skipped', 'NO_CONSENT']],
    },
  },
  {
    name: 'consent: a grant for another category does not count',
    command: { channels: ['email'] },
    policy: { requiresConsent: true },
    profile: {
      consents: [
        {
          channel: 'email',
          category: 'newsletter',
          granted: true,
          source: 'signup-form',
          at: '2026-01-01T00:00:00Z',
        },
      ],
    },
    want: {
      kind: 'suppress',
      reasonCode: 'NO_CONSENT',
      trace: [['email', 'skipped', 'NO_CONSENT']],
    },
  },
  {
    name: 'precedence: NOT_ALLOWED_FOR_CATEGORY before OPTED_OUT',
    command: { channels: ['sms', 'email'] },
    policy: { allowedChannels: ['email'] },
    profile: { channelPreferences: { '*': { sms: false } } },
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'NOT_ALLOWED_FOR_CATEGORY'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: 'precedence: OPTED_OUT before NO_CONSENT',
    command: { channels: ['sms'] },
    policy: { requiresConsent: true },
    profile: { channelPreferences: { order_updates: { sms: false } } },
    want: { kind: 'suppress', reasonCode: 'OPTED_OUT', trace: [['sms', 'skipped', 'OPTED_OUT']] },
  },
  {
    name: 'precedence: NO_CONSENT before NO_CONTACT',
    command: { channels: ['whatsapp'] },
    policy: { requiresConsent: true },
    profile: { whatsapp: [] },
    want: {
      kind: 'suppress',
      reasonCode: 'NO_CONSENT',
      trace: [['whatsapp', 'skipped', 'NO_CONSENT']],
    },
  },
  {
    name: 'skip: NO_CONTACT, and nothing else left is undeliverable',
    command: { channels: ['sms'] },
    profile: { phones: [] },
    want: {
      kind: 'undeliverable',
      trace: [['sms', 'skipped', 'NO_CONTACT']],
      details: ["there is no phone number in the command or on the customer's profile"],
    },
  },
  {
    name: 'precedence: NO_CONTACT before NO_CONTENT',
    command: { channels: ['sms', 'email'] },
    profile: { phones: [] },
    noContent: ['sms'],
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'NO_CONTACT'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: 'skip: NO_CONTENT',
    noContent: ['mobilepush'],
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'skipped', 'NO_CONTENT'],
        ['email', 'chosen'],
        ['sms', 'chosen'],
      ],
      details: ['this message has no mobile push content'],
    },
  },
  {
    name: 'precedence: NO_CONTENT before NO_PROVIDER',
    command: { channels: ['sms', 'email'] },
    noContent: ['sms'],
    unsupported: ['sms'],
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'NO_CONTENT'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: 'skip: NO_PROVIDER',
    unsupported: ['email'],
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'chosen'],
        ['email', 'skipped', 'NO_PROVIDER'],
        ['sms', 'chosen'],
      ],
      details: ['no email provider is configured'],
    },
  },
  {
    name: "undeliverable when opt-outs mix with reasons outside the customer's choice",
    command: { channels: ['sms', 'email'] },
    profile: { channelPreferences: { '*': { sms: false } } },
    unsupported: ['email'],
    want: {
      kind: 'undeliverable',
      trace: [
        ['sms', 'skipped', 'OPTED_OUT'],
        ['email', 'skipped', 'NO_PROVIDER'],
      ],
    },
  },

  // ---- contact merge ---------------------------------------------------------------------------
  {
    name: "contact: the command's phone wins over the profile's",
    command: { channels: ['sms'], recipient: { phone: '+4917000000042' } },
    want: {
      kind: 'send',
      candidates: [['sms', '+4917000000042']],
      details: ['the phone number given in the command'],
    },
  },
  {
    name: "contact: the command's email does not stand in for SMS",
    command: { channels: ['sms'], recipient: { email: 'other@example.com' } },
    want: { kind: 'send', candidates: [['sms', '+4915100000001']] },
  },
  {
    name: 'contact: a verified phone beats a more recently seen unverified one',
    command: { channels: ['sms'] },
    profile: {
      phones: [
        { value: '+4915100000002', lastSeenAt: '2026-06-01T00:00:00Z' },
        { value: '+4915100000003', verified: true, lastSeenAt: '2025-01-01T00:00:00Z' },
      ],
    },
    want: {
      kind: 'send',
      candidates: [['sms', '+4915100000003']],
      details: ["the verified phone number on the customer's profile"],
    },
  },
  {
    name: 'contact: among verified emails the most recently seen wins',
    command: { channels: ['email'] },
    profile: {
      emails: [
        { value: 'old@example.com', verified: true, lastSeenAt: '2025-01-01T00:00:00Z' },
        { value: 'new@example.com', verified: true, lastSeenAt: '2026-05-01T00:00:00Z' },
        { value: 'never@example.com', verified: true },
      ],
    },
    want: { kind: 'send', candidates: [['email', 'new@example.com']] },
  },
  {
    name: 'contact: nothing verified or seen, the first listed wins',
    command: { channels: ['email'] },
    profile: { emails: [{ value: 'first@example.com' }, { value: 'second@example.com' }] },
    want: {
      kind: 'send',
      candidates: [['email', 'first@example.com']],
      details: ["the email address on the customer's profile"],
    },
  },
  {
    name: 'contact: an empty WhatsApp list does not fall back to the phone numbers',
    command: { channels: ['whatsapp'] },
    profile: { whatsapp: [] },
    want: {
      kind: 'undeliverable',
      trace: [['whatsapp', 'skipped', 'NO_CONTACT']],
      details: ['phone numbers are not used for WhatsApp'],
    },
  },
  {
    name: 'contact: the most recently seen FCM token',
    command: { channels: ['mobilepush'] },
    profile: {
      fcmTokens: [
        { token: 'fcm-old', lastSeenAt: '2026-01-01T00:00:00Z' },
        { token: 'fcm-new', lastSeenAt: '2026-06-01T00:00:00Z' },
        { token: 'fcm-unknown' },
      ],
    },
    want: { kind: 'send', candidates: [['mobilepush', 'fcm-new']] },
  },
  {
    name: "contact: the command's first web push subscription, as JSON",
    command: { channels: ['webpush'], recipient: { webPushSubscriptions: [SUB_B, SUB_A] } },
    want: { kind: 'send', candidates: [['webpush', JSON.stringify(SUB_B)]] },
  },
  {
    name: 'contact: the most recently seen web push subscription from the profile',
    command: { channels: ['webpush'] },
    profile: {
      webPushSubscriptions: [
        { subscription: SUB_A, lastSeenAt: '2026-01-01T00:00:00Z' },
        { subscription: SUB_B, lastSeenAt: '2026-02-01T00:00:00Z' },
      ],
    },
    want: { kind: 'send', candidates: [['webpush', JSON.stringify(SUB_B)]] },
  },

  // ---- expiry ----------------------------------------------------------------------------------
  {
    name: 'expiry: receivedAt + policy TTL has passed',
    receivedAt: '2026-06-14T11:00:00Z',
    want: {
      kind: 'expired',
      expiresAt: '2026-06-15T11:00:00.000Z',
      trace: [
        ['mobilepush', 'skipped', 'EXPIRED'],
        ['email', 'skipped', 'EXPIRED'],
        ['sms', 'skipped', 'EXPIRED'],
      ],
      details: ['the message expired at 2026-06-15T11:00:00.000Z'],
    },
  },
  {
    name: 'expiry: createdAt + command TTL wins over a recent receivedAt',
    command: { createdAt: '2026-06-15T10:00:00Z', ttlSeconds: 3600 },
    want: { kind: 'expired', expiresAt: '2026-06-15T11:00:00.000Z' },
  },
  {
    name: 'expiry: createdAt + command TTL still in the future',
    command: { createdAt: '2026-06-15T10:00:00Z', ttlSeconds: 3 * 3600 },
    want: { kind: 'send', expiresAt: '2026-06-15T13:00:00.000Z' },
  },
  {
    name: 'expiry: receivedAt + command TTL when there is no createdAt',
    command: { ttlSeconds: 600 },
    receivedAt: '2026-06-15T11:58:00Z',
    want: { kind: 'send', expiresAt: '2026-06-15T12:08:00.000Z' },
  },
  {
    name: 'expiry: createdAt + policy TTL',
    command: { createdAt: '2026-06-14T12:30:00Z' },
    want: { kind: 'send', expiresAt: '2026-06-15T12:30:00.000Z' },
  },
  {
    name: "expiry: the command's expiresAt in the past",
    command: { expiresAt: '2026-06-15T11:59:59Z' },
    want: { kind: 'expired', expiresAt: '2026-06-15T11:59:59.000Z' },
  },
  {
    name: 'expiry: expiring exactly now counts as expired',
    command: { expiresAt: NOW },
    want: { kind: 'expired', expiresAt: NOW },
  },

  // ---- locale ----------------------------------------------------------------------------------
  {
    name: "locale: the template's locale wins over the profile's",
    command: { template: { id: 'order-shipped', locale: 'fr-CA' } },
    want: { kind: 'send', locale: 'fr-CA' },
  },

  // ---- quiet hours -----------------------------------------------------------------------------
  {
    name: 'quiet hours: outside the window sends',
    profile: { quietHours: NIGHT },
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'chosen'],
        ['email', 'chosen'],
        ['sms', 'chosen'],
      ],
    },
  },
  {
    name: 'quiet hours: inside in the evening defers to the next local morning',
    profile: { quietHours: NIGHT },
    now: '2026-06-15T21:30:00Z',
    want: {
      kind: 'defer',
      until: '2026-06-16T05:00:00.000Z',
      trace: [
        ['mobilepush', 'skipped', 'QUIET_HOURS'],
        ['email', 'skipped', 'QUIET_HOURS'],
        ['sms', 'skipped', 'QUIET_HOURS'],
      ],
      details: [
        'quiet hours 22:00–07:00 Europe/Berlin until 2026-06-16T07:00+02:00',
        'local time is 23:30',
      ],
    },
  },
  {
    name: 'quiet hours: after midnight in a window across midnight ends the same day',
    profile: { quietHours: NIGHT },
    now: '2026-06-16T03:00:00Z',
    want: { kind: 'defer', until: '2026-06-16T05:00:00.000Z' },
  },
  {
    name: 'quiet hours: exactly at the end is outside ([start, end))',
    profile: { quietHours: NIGHT },
    now: '2026-06-16T05:00:00Z',
    want: { kind: 'send' },
  },
  {
    name: 'quiet hours: exactly at the start is inside',
    profile: { quietHours: NIGHT },
    now: '2026-06-15T20:00:00Z',
    want: { kind: 'defer', until: '2026-06-16T05:00:00.000Z' },
  },
  {
    name: 'quiet hours: a daytime window (not across midnight)',
    profile: { quietHours: { start: '13:00', end: '15:00' } },
    want: { kind: 'defer', until: '2026-06-15T13:00:00.000Z' },
  },
  {
    name: 'quiet hours: start equal to end is an empty window',
    profile: { quietHours: { start: '07:00', end: '07:00' } },
    want: { kind: 'send' },
  },
  {
    name: 'quiet hours: a skipped channel keeps its own reason while the rest are held',
    profile: { quietHours: NIGHT, channelPreferences: { '*': { email: false } } },
    now: '2026-06-15T21:30:00Z',
    want: {
      kind: 'defer',
      trace: [
        ['mobilepush', 'skipped', 'QUIET_HOURS'],
        ['email', 'skipped', 'OPTED_OUT'],
        ['sms', 'skipped', 'QUIET_HOURS'],
      ],
    },
  },
  {
    name: 'quiet hours: nothing deliverable is reported now, not deferred',
    command: { channels: ['sms'] },
    profile: { quietHours: NIGHT, phones: [] },
    now: '2026-06-15T21:30:00Z',
    want: { kind: 'undeliverable', trace: [['sms', 'skipped', 'NO_CONTACT']] },
  },
  {
    name: "quiet hours: 'drop' suppresses with QUIET_HOURS",
    command: { channels: ['email'], category: 'promotions' },
    policy: { category: 'promotions', quietHours: 'drop' },
    profile: { quietHours: NIGHT },
    now: '2026-06-15T21:30:00Z',
    want: {
      kind: 'suppress',
      reasonCode: 'QUIET_HOURS',
      trace: [['email', 'skipped', 'QUIET_HOURS']],
      details: ['"promotions" messages are dropped during quiet hours'],
    },
  },
  {
    name: "quiet hours: 'ignore' (e.g. otp) sends inside the window and says why",
    command: { channels: ['sms'], category: 'otp' },
    policy: { category: 'otp', transactional: true, quietHours: 'ignore' },
    profile: { quietHours: NIGHT },
    now: '2026-06-15T21:30:00Z',
    want: {
      kind: 'send',
      trace: [['sms', 'chosen']],
      details: ['"otp" messages ignore quiet hours'],
    },
  },
  {
    name: 'quiet hours: a deferral past the TTL expires instead',
    profile: { quietHours: NIGHT },
    command: { ttlSeconds: 3600 },
    now: '2026-06-15T21:30:00Z',
    want: {
      kind: 'expired',
      expiresAt: '2026-06-15T22:29:00.000Z',
      trace: [
        ['mobilepush', 'skipped', 'QUIET_HOURS'],
        ['email', 'skipped', 'QUIET_HOURS'],
        ['sms', 'skipped', 'QUIET_HOURS'],
      ],
      details: ['expires earlier, at 2026-06-15T22:29:00.000Z'],
    },
  },
  {
    name: 'quiet hours: an unknown time zone is read as UTC, and the trace says so',
    profile: { quietHours: NIGHT, timeZone: 'Mars/Olympus_Mons' },
    now: '2026-06-15T23:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-06-16T07:00:00.000Z',
      details: [
        'quiet hours 22:00–07:00 UTC until 2026-06-16T07:00+00:00',
        'time zone "Mars/Olympus_Mons" is unknown, so UTC was used',
      ],
    },
  },
  {
    name: 'quiet hours: an unknown time zone outside the window still notes UTC',
    profile: { quietHours: NIGHT, timeZone: 'Mars/Olympus_Mons' },
    want: { kind: 'send', details: ['outside quiet hours 22:00–07:00 UTC'] },
  },
  {
    name: 'quiet hours: an unreadable window is not applied, and the trace says so',
    profile: { quietHours: { start: '10pm', end: '07:00' } },
    now: '2026-06-15T21:30:00Z',
    want: { kind: 'send', details: ['quiet hours "10pm–07:00" could not be read'] },
  },
  // New York, spring forward 2026-03-08 02:00 EST → 03:00 EDT (07:00Z).
  {
    name: 'DST New York spring forward: overnight window ends at 07:00 EDT (7 hours away, not 8)',
    profile: { quietHours: NIGHT, timeZone: 'America/New_York' },
    now: '2026-03-08T04:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-03-08T11:00:00.000Z',
      details: ['until 2026-03-08T07:00-04:00', 'local time is 23:00'],
    },
  },
  {
    name: 'DST New York spring forward: an end of 02:30 does not exist, so 03:00 EDT',
    profile: { quietHours: { start: '22:00', end: '02:30' }, timeZone: 'America/New_York' },
    now: '2026-03-08T06:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-03-08T07:00:00.000Z',
      details: ['quiet hours 22:00–02:30 America/New_York until 2026-03-08T03:00-04:00'],
    },
  },
  // New York, fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
  {
    name: 'DST New York fall back: overnight window ends at 07:00 EST',
    profile: { quietHours: NIGHT, timeZone: 'America/New_York' },
    now: '2026-11-01T02:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-11-01T12:00:00.000Z',
      details: ['until 2026-11-01T07:00-05:00'],
    },
  },
  {
    name: 'DST New York fall back: an end of 01:30 happens twice, the earlier one is taken',
    profile: { quietHours: { start: '22:00', end: '01:30' }, timeZone: 'America/New_York' },
    now: '2026-11-01T05:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-11-01T05:30:00.000Z',
      details: ['until 2026-11-01T01:30-04:00'],
    },
  },
  {
    name: 'DST New York fall back: past the earlier 01:30 (in the repeated hour), the later one',
    profile: { quietHours: { start: '22:00', end: '01:30' }, timeZone: 'America/New_York' },
    now: '2026-11-01T06:10:00Z',
    want: {
      kind: 'defer',
      until: '2026-11-01T06:30:00.000Z',
      details: ['until 2026-11-01T01:30-05:00'],
    },
  },
  // Berlin, spring forward 2026-03-29 02:00 CET → 03:00 CEST (01:00Z).
  {
    name: 'DST Berlin spring forward: overnight window ends at 07:00 CEST',
    profile: { quietHours: NIGHT },
    now: '2026-03-28T22:30:00Z',
    want: {
      kind: 'defer',
      until: '2026-03-29T05:00:00.000Z',
      details: ['quiet hours 22:00–07:00 Europe/Berlin until 2026-03-29T07:00+02:00'],
    },
  },
  {
    name: 'DST Berlin spring forward: an end of 02:30 does not exist, so 03:00 CEST',
    profile: { quietHours: { start: '23:00', end: '02:30' } },
    now: '2026-03-29T00:30:00Z',
    want: {
      kind: 'defer',
      until: '2026-03-29T01:00:00.000Z',
      details: ['until 2026-03-29T03:00+02:00'],
    },
  },
  // Berlin, fall back 2026-10-25 03:00 CEST → 02:00 CET (01:00Z).
  {
    name: 'DST Berlin fall back: an end of 02:30 happens twice, the earlier one is taken',
    profile: { quietHours: { start: '22:00', end: '02:30' } },
    now: '2026-10-24T23:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-10-25T00:30:00.000Z',
      details: ['until 2026-10-25T02:30+02:00'],
    },
  },
  {
    name: 'DST Berlin fall back: overnight window ends at 07:00 CET (9 h elapsed)',
    profile: { quietHours: NIGHT },
    now: '2026-10-24T21:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-10-25T06:00:00.000Z',
      details: ['until 2026-10-25T07:00+01:00'],
    },
  },
  // Zones without DST.
  {
    name: 'no DST: Asia/Tokyo',
    profile: { quietHours: { start: '21:00', end: '08:00' }, timeZone: 'Asia/Tokyo' },
    now: '2026-06-01T13:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-06-01T23:00:00.000Z',
      details: ['until 2026-06-02T08:00+09:00'],
    },
  },
  {
    name: 'no DST: Asia/Kolkata (half-hour offset)',
    profile: { quietHours: { start: '22:00', end: '06:30' }, timeZone: 'Asia/Kolkata' },
    now: '2026-01-10T17:00:00Z',
    want: {
      kind: 'defer',
      until: '2026-01-11T01:00:00.000Z',
      details: ['until 2026-01-11T06:30+05:30'],
    },
  },

  // ---- suppressions (STOP replies, bounces, spam reports, unsubscribes, gone push addresses) ---
  {
    name: 'suppressed: a STOP reply skips SMS with its date, and the plan falls back',
    command: { channels: ['sms', 'email'] },
    suppressed: [
      [
        'sms',
        '+4915100000001',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'SUPPRESSED'],
        ['email', 'chosen'],
      ],
      candidates: [['email', 'anna@example.com']],
      details: ['the customer replied STOP to an SMS on 2026-05-04'],
    },
  },
  {
    name: 'suppressed: STOP holds even for a required category (the carrier would refuse anyway)',
    command: { channels: ['sms', 'email'] },
    policy: { optOutAllowed: false, transactional: true },
    suppressed: [
      [
        'sms',
        '+4915100000001',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['sms', 'skipped', 'SUPPRESSED'],
        ['email', 'chosen'],
      ],
    },
  },
  {
    name: 'suppressed: a hard bounce skips email in words',
    command: { channels: ['email', 'sms'] },
    suppressed: [
      [
        'email',
        'anna@example.com',
        { reason: 'HARD_BOUNCE', scope: '*', since: '2026-06-01T08:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['email', 'skipped', 'SUPPRESSED'],
        ['sms', 'chosen'],
      ],
      details: ['the email address bounced hard on 2026-06-01'],
    },
  },
  {
    name: 'suppressed: a STOP on WhatsApp says WhatsApp',
    command: { channels: ['whatsapp', 'email'] },
    suppressed: [
      [
        'whatsapp',
        '+4915100000009',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['whatsapp', 'skipped', 'SUPPRESSED'],
        ['email', 'chosen'],
      ],
      details: ['replied STOP to a WhatsApp message on 2026-05-04'],
    },
  },
  {
    name: 'suppressed: only the suppressed address counts (another address is not skipped)',
    command: { channels: ['sms'] },
    suppressed: [
      [
        'sms',
        '+4915100000077',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: { kind: 'send', trace: [['sms', 'chosen']] },
  },
  {
    name: 'suppressed: an unsubscribe from one category leaves the others',
    command: { channels: ['email'] },
    suppressed: [
      [
        'email',
        'anna@example.com',
        { reason: 'UNSUBSCRIBE', scope: 'newsletter', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: { kind: 'send', trace: [['email', 'chosen']] },
  },
  {
    name: 'suppressed: an unsubscribe from this category skips it',
    command: { channels: ['email', 'sms'] },
    suppressed: [
      [
        'email',
        'anna@example.com',
        { reason: 'UNSUBSCRIBE', scope: 'order_updates', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['email', 'skipped', 'SUPPRESSED'],
        ['sms', 'chosen'],
      ],
      details: ['unsubscribed from "order_updates" email on 2026-05-04'],
    },
  },
  {
    name: 'suppressed: an unsubscribe does not hold for a required category, and the trace says so',
    command: { channels: ['email'] },
    policy: { optOutAllowed: false },
    suppressed: [
      [
        'email',
        'anna@example.com',
        { reason: 'UNSUBSCRIBE', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [['email', 'chosen']],
      details: ['is a required category, so it does not apply'],
    },
  },
  {
    name: 'suppressed: an admin override sets an unsubscribe aside, never a hard bounce',
    command: { channels: ['email', 'sms'] },
    overrides: { ignoreOptOut: true },
    suppressed: [
      [
        'email',
        'anna@example.com',
        { reason: 'UNSUBSCRIBE', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
      [
        'sms',
        '+4915100000001',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['email', 'chosen'],
        ['sms', 'skipped', 'SUPPRESSED'],
      ],
      details: ['an admin overrode it for this resend'],
    },
  },
  {
    name: 'suppressed: a gone push token skips mobile push',
    command: { channels: ['mobilepush', 'email'] },
    suppressed: [
      [
        'mobilepush',
        'fcm-profile-1',
        { reason: 'SUBSCRIPTION_GONE', scope: '*', since: '2026-06-10T00:00:00Z' },
      ],
    ],
    want: {
      kind: 'send',
      trace: [
        ['mobilepush', 'skipped', 'SUPPRESSED'],
        ['email', 'chosen'],
      ],
      details: ['the mobile push token is gone'],
    },
  },
  {
    name: 'suppressed: every channel suppressed gives a SUPPRESSED suppression',
    command: { channels: ['sms', 'email'] },
    suppressed: [
      [
        'sms',
        '+4915100000001',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
      [
        'email',
        'anna@example.com',
        { reason: 'SPAM_REPORT', scope: '*', since: '2026-05-05T10:00:00Z' },
      ],
    ],
    want: {
      kind: 'suppress',
      reasonCode: 'SUPPRESSED',
      details: ['reported a message as spam on 2026-05-05'],
    },
  },
  {
    name: 'suppressed and opted out together give OPTED_OUT',
    command: { channels: ['sms', 'email'] },
    profile: { channelPreferences: { '*': { email: false } } },
    suppressed: [
      [
        'sms',
        '+4915100000001',
        { reason: 'STOP_KEYWORD', scope: '*', since: '2026-05-04T10:00:00Z' },
      ],
    ],
    want: { kind: 'suppress', reasonCode: 'OPTED_OUT' },
  },
];

describe('plan', () => {
  it('has at least 40 table cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)('$name', (c) => {
    const result = run(c);
    const { want } = c;
    expect(result.kind).toBe(want.kind);

    // Invariants for every plan: valid entries, one per channel, all stamped with `now`.
    const at = new Date(c.now ?? NOW).toISOString();
    for (const entry of result.trace) {
      expect(traceEntrySchema.safeParse(entry).success).toBe(true);
      expect(entry.at).toBe(at);
    }
    const channels = result.trace.map((entry) => entry.channel);
    expect(new Set(channels).size).toBe(channels.length);
    expect(result.trace.length).toBeLessThanOrEqual(100);

    if (want.trace !== undefined) expect(decisions(result.trace)).toEqual(want.trace);
    if (want.details !== undefined) {
      const details = result.trace.map((entry) => entry.detail).join('\n');
      for (const fragment of want.details) expect(details).toContain(fragment);
    }
    switch (result.kind) {
      case 'send':
        if (want.candidates !== undefined) {
          expect(result.candidates.map((item) => [item.channel, item.address])).toEqual(
            want.candidates,
          );
        }
        if (want.expiresAt !== undefined)
          expect(result.expiresAt.toISOString()).toBe(want.expiresAt);
        if ('locale' in want) expect(result.locale).toBe(want.locale);
        // Every chosen entry is a candidate and vice versa, in the same order.
        expect(result.candidates.map((item) => item.channel)).toEqual(
          result.trace.filter((entry) => entry.decision === 'chosen').map((entry) => entry.channel),
        );
        break;
      case 'defer':
        if (want.until !== undefined) expect(result.until.toISOString()).toBe(want.until);
        break;
      case 'expired':
        if (want.expiresAt !== undefined)
          expect(result.expiresAt.toISOString()).toBe(want.expiresAt);
        break;
      case 'suppress':
        expect(result.reasonCode).toBe(want.reasonCode);
        break;
      case 'undeliverable':
        break;
    }
  });

  it('is pure: the same input gives the same plan', () => {
    const c = CASES.find((item) => item.name.startsWith('DST Berlin spring forward: overnight'));
    if (c === undefined) throw new Error('case not found');
    expect(run(c)).toEqual(run(c));
  });
});
