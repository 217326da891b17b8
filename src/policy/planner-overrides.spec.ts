import type { SendCommand } from '@omnigate/contracts';
import type { CategoryPolicy, CustomerProfile, PlanInput } from './model';
import { plan } from './planner';

/** The admin resend's override input: an opt-out can be overridden, nothing else changes. */
const policy: CategoryPolicy = {
  category: 'order_updates',
  transactional: true,
  optOutAllowed: true,
  requiresConsent: false,
  allowedChannels: ['sms', 'email'],
  fallbackChain: ['sms', 'email'],
  quietHours: 'ignore',
  ttlSeconds: 3600,
};

const profile: CustomerProfile = {
  customerId: 'c-1',
  phones: [{ value: '+14155550142' }],
  emails: [],
  whatsapp: [],
  webPushSubscriptions: [],
  fcmTokens: [],
  preferredChannels: [],
  channelPreferences: { '*': { sms: false } },
  consents: [],
  timeZone: 'UTC',
  version: 1,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const command: SendCommand = {
  schemaVersion: 1,
  id: 'm-1',
  customerId: 'c-1',
  category: 'order_updates',
  priority: 'normal',
  channels: ['sms'],
  content: { sms: { text: 'hi' } },
};

const input = (extra: Partial<PlanInput> = {}): PlanInput => ({
  command,
  profile,
  policy,
  now: new Date('2026-02-01T12:00:00Z'),
  receivedAt: new Date('2026-02-01T12:00:00Z'),
  capabilities: { hasContent: () => true, isSupported: () => true },
  ...extra,
});

describe('planner overrides', () => {
  it('keeps the opt-out without an override', () => {
    expect(plan(input())).toMatchObject({ kind: 'suppress', reasonCode: 'OPTED_OUT' });
    expect(plan(input({ overrides: {} }))).toMatchObject({ kind: 'suppress' });
  });

  it('chooses an opted-out channel when an admin overrides, and says so in the trace', () => {
    const result = plan(input({ overrides: { ignoreOptOut: true } }));
    expect(result.kind).toBe('send');
    expect(result.trace[0]).toMatchObject({ channel: 'sms', decision: 'chosen' });
    expect(result.trace[0]?.detail).toMatch(/opted out of SMS.*an admin overrode the opt-out/);
  });

  it('overrides nothing else: a missing contact still skips the channel', () => {
    const result = plan(
      input({ overrides: { ignoreOptOut: true }, profile: { ...profile, phones: [] } }),
    );
    expect(result).toMatchObject({ kind: 'undeliverable' });
  });
});
