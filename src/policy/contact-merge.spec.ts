import { validateSendCommand, type Channel, type SendCommandInput } from '@omnigate/contracts';
import { addressFor, resolveContact } from './contact-merge';
import type { CustomerProfile } from './model';

const SUB = {
  endpoint: 'https://push.example.com/sub-c',
  keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQ', auth: 'tBHItJI5svbpez7KI4CCXg' },
};

const PROFILE: CustomerProfile = {
  customerId: 'cust-1',
  phones: [{ value: '' }, { value: '+4915100000001' }],
  emails: [{ value: 'stored@example.com', verified: true }],
  whatsapp: [],
  webPushSubscriptions: [{ subscription: SUB }],
  fcmTokens: [{ token: '' }, { token: 'fcm-stored' }],
  preferredChannels: [],
  channelPreferences: {},
  consents: [],
  timeZone: 'UTC',
  version: 1,
  updatedAt: '2026-01-01T00:00:00Z',
};

function command(recipient: SendCommandInput['recipient']) {
  const result = validateSendCommand({
    id: 'cmd-1',
    customerId: 'cust-1',
    category: 'order_updates',
    recipient,
    template: { id: 't' },
  });
  if (!result.ok) throw new Error(result.rejection.message);
  return result.command;
}

describe('addressFor', () => {
  it.each<
    [string, Channel, SendCommandInput['recipient'], CustomerProfile | null, string | undefined]
  >([
    ['command phone for sms', 'sms', { phone: '+4917000000042' }, PROFILE, '+4917000000042'],
    [
      'command whatsapp for whatsapp',
      'whatsapp',
      { whatsapp: '+4917000000043' },
      PROFILE,
      '+4917000000043',
    ],
    [
      'command phone is not a WhatsApp number',
      'whatsapp',
      { phone: '+4917000000042' },
      PROFILE,
      undefined,
    ],
    ['command email', 'email', { email: 'cmd@example.com' }, PROFILE, 'cmd@example.com'],
    ['command first FCM token', 'mobilepush', { fcmTokens: ['fcm-a', 'fcm-b'] }, PROFILE, 'fcm-a'],
    [
      'empty command token list falls back to the profile',
      'mobilepush',
      { fcmTokens: [] },
      PROFILE,
      'fcm-stored',
    ],
    ['empty stored values are not addresses', 'sms', {}, PROFILE, '+4915100000001'],
    ['stored web push subscription as JSON', 'webpush', {}, PROFILE, JSON.stringify(SUB)],
    ['unknown customer without a command contact', 'email', {}, null, undefined],
  ])('%s', (_name, channel, recipient, profile, want) => {
    expect(addressFor(channel, command(recipient), profile)).toBe(want);
  });

  it('says where the address came from', () => {
    expect(resolveContact('email', command({}), PROFILE)?.source).toBe('profile-verified');
    expect(resolveContact('sms', command({}), PROFILE)?.source).toBe('profile');
    expect(resolveContact('sms', command({ phone: '+4917000000042' }), PROFILE)?.source).toBe(
      'command',
    );
  });
});
