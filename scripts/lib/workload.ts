/**
 * Realistic sample traffic shared by the demo, the tests and the benchmark: valid send commands
 * over many customers and channels, and malformed records of every kind the intake must reject.
 */
import type { Channel, ProfileEvent, SendCommandInput } from '../../libs/contracts/src';

export interface WorkloadRecord {
  readonly key: string | null;
  readonly value: string | Buffer;
  /** What the record is, for reports: a valid command id or the kind of malformation. */
  readonly label: string;
  readonly valid: boolean;
}

const FIRST_NAMES = [
  'Ana',
  'Wei',
  'Fatima',
  'Lars',
  'Yuki',
  'Kofi',
  'Sofía',
  'Noor',
  'Ivan',
  'Chloé',
];
const CATEGORIES = ['order_updates', 'otp', 'marketing', 'account_security'] as const;

export function customerId(index: number): string {
  return `cust-${String(index).padStart(5, '0')}`;
}

function phoneFor(index: number): string {
  return `+1415555${String(index % 10000).padStart(4, '0')}`;
}

/** A browser push subscription for a customer; the demo passes real ones from the sandbox. */
export type WebPushSubscriptionFactory = (customerIndex: number) => {
  endpoint: string;
  keys: { p256dh: string; auth: string };
};

const placeholderSubscription: WebPushSubscriptionFactory = (customerIndex) => ({
  endpoint: `https://push.example.com/send/${customerIndex}`,
  keys: {
    p256dh:
      'BOr3Jq6Yv2l9Xl8JmN0eKx3YkQmDq6v1Q0n3bqjH0Yx6u0H8m7Qk2h9bXo4vYb2u7Y7tq5F4XwK1v9o8m3n2b1c',
    auth: 'a1B2c3D4e5F6g7H8i9J0kA',
  },
});

export function validCommand(
  sequence: number,
  customerIndex: number,
  runId: string,
  webPushSubscription: WebPushSubscriptionFactory = placeholderSubscription,
): { id: string; body: Record<string, unknown> } {
  const id = `${runId}-${String(sequence).padStart(6, '0')}`;
  const name = FIRST_NAMES[customerIndex % FIRST_NAMES.length]!;
  const category = CATEGORIES[sequence % CATEGORIES.length]!;
  const channelOrder: Channel[][] = [
    ['sms', 'email'],
    ['email'],
    ['whatsapp', 'sms'],
    ['mobilepush', 'email'],
    ['webpush', 'email'],
  ];
  const channels = channelOrder[(customerIndex + sequence) % channelOrder.length]!;
  const order = `#${10000 + sequence}`;
  return {
    id,
    body: {
      schemaVersion: 1,
      id,
      customerId: customerId(customerIndex),
      category,
      priority: category === 'otp' ? 'high' : 'normal',
      channels,
      recipient: {
        phone: phoneFor(customerIndex),
        whatsapp: phoneFor(customerIndex),
        email: `customer${customerIndex}@example.com`,
        fcmTokens: [`fcm-token-${customerIndex}-${'x'.repeat(40)}`],
        webPushSubscriptions: [webPushSubscription(customerIndex)],
      },
      content: {
        sms: { text: `Hi ${name}, your order ${order} has shipped.` },
        whatsapp: { text: `Hi ${name} 👋 your order ${order} has shipped.` },
        email: {
          subject: `Order ${order} shipped`,
          html: `<p>Hi ${name}, your order <b>${order}</b> has shipped.</p>`,
          text: `Hi ${name}, your order ${order} has shipped.`,
        },
        webpush: {
          title: 'Order shipped',
          body: `Order ${order} is on its way`,
          url: `https://shop.example.com/orders/${sequence}`,
        },
        mobilepush: {
          title: 'Order shipped',
          body: `Order ${order} is on its way`,
          data: { orderId: order },
        },
      },
      ...templateInstead(sequence, name, order),
      ttlSeconds: 86400,
      metadata: { source: 'workload', run: runId },
    },
  };
}

const TEMPLATE_LOCALES = ['en', 'zh-TW', 'zh-CN', 'ar'] as const;

/** Every seventh command names a template (in one of four locales) instead of inline content. */
function templateInstead(sequence: number, name: string, order: string): Record<string, unknown> {
  if (sequence % 7 !== 3) return {};
  const locale = TEMPLATE_LOCALES[Math.floor(sequence / 7) % TEMPLATE_LOCALES.length]!;
  return {
    content: undefined,
    template: {
      id: 'order_shipped',
      locale,
      data: { name, orderId: order, trackingUrl: `https://shop.example.com/track/${sequence}` },
    },
  };
}

export const MALFORMED_KINDS = [
  'not_json',
  'missing_fields',
  'wrong_types',
  'oversize',
  'unknown_channel',
] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

export function malformedRecord(
  kind: MalformedKind,
  sequence: number,
  customerIndex: number,
  runId: string,
  maxBytes: number,
): WorkloadRecord {
  const key = customerId(customerIndex);
  const { id, body } = validCommand(sequence, customerIndex, `${runId}-bad`);
  switch (kind) {
    case 'not_json':
      return { key, value: `{"id": "${id}", "customerId": oops`, label: kind, valid: false };
    case 'missing_fields': {
      const rest: Record<string, unknown> = { ...body };
      delete rest.customerId;
      delete rest.category;
      return { key, value: JSON.stringify(rest), label: kind, valid: false };
    }
    case 'wrong_types':
      return {
        key,
        value: JSON.stringify({ ...body, priority: 7, channels: 'sms', ttlSeconds: 'soon' }),
        label: kind,
        valid: false,
      };
    case 'oversize':
      return {
        key,
        value: JSON.stringify({
          ...body,
          metadata: { padding: 'p'.repeat(400) },
          content: {
            ...(body.content as object),
            email: { subject: 'big', text: 'z'.repeat(maxBytes) },
          },
        }),
        label: kind,
        valid: false,
      };
    case 'unknown_channel':
      return {
        key,
        value: JSON.stringify({ ...body, channels: ['sms', 'fax'] }),
        label: kind,
        valid: false,
      };
  }
}

export interface WorkloadOptions {
  readonly commands: number;
  readonly customers: number;
  readonly malformed: number;
  readonly runId: string;
  readonly maxCommandBytes: number;
  readonly webPushSubscription?: WebPushSubscriptionFactory;
}

/** Valid commands round-robin over customers, with malformed records spread evenly among them. */
export function buildWorkload(options: WorkloadOptions): WorkloadRecord[] {
  const records: WorkloadRecord[] = [];
  for (let i = 0; i < options.commands; i += 1) {
    const customerIndex = i % options.customers;
    const { id, body } = validCommand(i, customerIndex, options.runId, options.webPushSubscription);
    records.push({
      key: customerId(customerIndex),
      value: JSON.stringify(body),
      label: id,
      valid: true,
    });
  }
  const every = Math.max(1, Math.floor(records.length / Math.max(1, options.malformed)));
  for (let j = 0; j < options.malformed; j += 1) {
    const kind = MALFORMED_KINDS[j % MALFORMED_KINDS.length]!;
    const bad = malformedRecord(
      kind,
      j,
      j % options.customers,
      options.runId,
      options.maxCommandBytes,
    );
    records.splice(Math.min(records.length, j * every + j), 0, bad);
  }
  return records;
}

/*
 * Lane traffic for the priority-lane benchmark: bulk marketing by email on the send topic, and
 * one-time passcodes by SMS on the priority topic. Customer ids are given by the caller, so a run
 * can keep its customers apart from earlier runs' frequency caps (Redis keeps them for a day).
 */

/** A marketing email; the customer needs a granted consent (consentProfile) or it is suppressed. */
export function marketingEmailCommand(
  id: string,
  customer: string,
  sequence: number,
): SendCommandInput {
  const name = FIRST_NAMES[sequence % FIRST_NAMES.length]!;
  return {
    schemaVersion: 1,
    id,
    customerId: customer,
    category: 'marketing',
    priority: 'low',
    recipient: { email: `${customer}@example.com` },
    content: {
      email: {
        subject: 'Winter sale: 20% off this weekend',
        html: `<p>Hi ${name}, everything is <b>20% off</b> this weekend.</p>`,
        text: `Hi ${name}, everything is 20% off this weekend.`,
      },
    },
    metadata: { source: 'workload', kind: 'marketing' },
  };
}

/** A one-time passcode by SMS (the otp policy falls back to WhatsApp, then email). */
export function otpSmsCommand(id: string, customer: string, sequence: number): SendCommandInput {
  const code = String(100000 + ((sequence * 7919) % 900000));
  return {
    schemaVersion: 1,
    id,
    customerId: customer,
    category: 'otp',
    priority: 'high',
    recipient: { phone: phoneFor(sequence), email: `${customer}@example.com` },
    content: {
      sms: { text: `Your code is ${code}. It expires in 10 minutes.` },
      email: { subject: 'Your sign-in code', text: `Your code is ${code}.` },
    },
    ttlSeconds: 600,
    metadata: { source: 'workload', kind: 'otp' },
  };
}

/** A profile upsert that grants marketing consent on every channel, as a signup form would. */
export function consentProfile(customer: string, occurredAt: Date): ProfileEvent {
  const channels: Channel[] = ['email', 'sms', 'whatsapp', 'mobilepush', 'webpush'];
  return profileUpsert(customer, occurredAt, (at) => ({
    consents: channels.map((channel) => ({ channel, granted: true, source: 'signup-form', at })),
  }));
}

/** An upsert with a verified email and a time zone, plus the given fields (which see its time). */
function profileUpsert(
  customer: string,
  occurredAt: Date,
  fields: (at: string) => Extract<ProfileEvent, { type: 'upsert' }>['profile'],
): ProfileEvent {
  const at = occurredAt.toISOString();
  return {
    schemaVersion: 1,
    type: 'upsert',
    customerId: customer,
    version: occurredAt.getTime(),
    occurredAt: at,
    profile: {
      emails: [{ value: `${customer}@example.com`, verified: true }],
      timeZone: 'Europe/Berlin',
      ...fields(at),
    },
  };
}

/*
 * Mixed traffic for the throughput benchmark: order updates, marketing, account security and
 * OTPs over email, SMS, web push and mobile push, five commands a customer. Some customers have a
 * stored profile with preferred channels, a marketing opt-out by SMS and marketing consents; the
 * others get no marketing (no consent) and follow the category's fallback chain.
 */

/** Ten slots: four order updates, four marketing, one account security, one OTP. */
const MIXED_CATEGORIES = [
  'order_updates',
  'marketing',
  'order_updates',
  'account_security',
  'marketing',
  'order_updates',
  'otp',
  'marketing',
  'order_updates',
  'marketing',
] as const;
/** What the command itself asks for; undefined leaves it to the profile and the policy. */
const MIXED_CHANNELS: ReadonlyArray<Channel[] | undefined> = [
  undefined,
  ['email'],
  ['sms', 'email'],
  ['webpush', 'email'],
  ['mobilepush', 'sms'],
];
const PREFERRED_CHANNELS: Channel[][] = [
  ['mobilepush', 'email'],
  ['webpush', 'email'],
  ['email', 'sms'],
];

/** Four customers in ten have a stored profile (mixedProfile). */
export function hasMixedProfile(customerIndex: number): boolean {
  return customerIndex % 10 < 4;
}

/** The round-th command (0-based) of a customer. */
export function mixedCommand(
  id: string,
  customer: string,
  customerIndex: number,
  round: number,
  webPushSubscription: WebPushSubscriptionFactory = placeholderSubscription,
): SendCommandInput {
  const category = MIXED_CATEGORIES[(customerIndex * 3 + round) % MIXED_CATEGORIES.length]!;
  const name = FIRST_NAMES[customerIndex % FIRST_NAMES.length]!;
  const channels =
    category === 'otp'
      ? (['sms', 'email'] satisfies Channel[])
      : MIXED_CHANNELS[(customerIndex + round) % MIXED_CHANNELS.length];
  const code = String(100000 + ((customerIndex * 7919 + round) % 900000));
  const text =
    category === 'otp'
      ? `Your code is ${code}. It expires in 10 minutes.`
      : category === 'marketing'
        ? `Hi ${name}, everything is 20% off this weekend.`
        : `Hi ${name}, there is news about your order #${10000 + round}.`;
  return {
    schemaVersion: 1,
    id,
    customerId: customer,
    category,
    priority: category === 'otp' ? 'high' : category === 'marketing' ? 'low' : 'normal',
    ...(channels ? { channels } : {}),
    recipient: {
      phone: phoneFor(customerIndex),
      email: `${customer}@example.com`,
      fcmTokens: [`fcm-token-${customer}-${'x'.repeat(40)}`],
      webPushSubscriptions: [webPushSubscription(customerIndex)],
    },
    content: {
      sms: { text },
      email: { subject: category === 'otp' ? 'Your sign-in code' : 'News from the shop', text },
      webpush: { title: 'News from the shop', body: text, url: 'https://shop.example.com/news' },
      mobilepush: { title: 'News from the shop', body: text, data: { round: String(round) } },
    },
    ttlSeconds: category === 'otp' ? 600 : 86400,
    metadata: { source: 'workload', kind: 'mixed' },
  };
}

/** A stored profile: preferred channels, no marketing by SMS, marketing consent on the others. */
export function mixedProfile(
  customer: string,
  customerIndex: number,
  occurredAt: Date,
): ProfileEvent {
  return profileUpsert(customer, occurredAt, (at) => ({
    preferredChannels: PREFERRED_CHANNELS[customerIndex % PREFERRED_CHANNELS.length]!,
    channelPreferences: { marketing: { sms: false } },
    consents: (['email', 'mobilepush', 'webpush'] satisfies Channel[]).map((channel) => ({
      channel,
      category: 'marketing',
      granted: true,
      source: 'signup-form',
      at,
    })),
    locale: 'en',
  }));
}
