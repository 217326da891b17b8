import type { Channel } from '@omnigate/contracts';
import { addressIdentity, suppressionFromAttempt, type RefusedAttempt } from './address-feedback';

describe('suppressionFromAttempt', () => {
  const table: Array<[Channel, RefusedAttempt, string | undefined]> = [
    [
      'webpush',
      { outcome: 'failed', errorKind: 'unreachable_token', vendorCode: '410' },
      'SUBSCRIPTION_GONE',
    ],
    [
      'webpush',
      { outcome: 'failed', errorKind: 'unreachable_token', vendorCode: '404' },
      'SUBSCRIPTION_GONE',
    ],
    ['webpush', { outcome: 'failed', errorKind: 'transient', vendorCode: '503' }, undefined],
    [
      'mobilepush',
      {
        outcome: 'failed',
        errorKind: 'unreachable_token',
        vendorCode: 'messaging/registration-token-not-registered',
      },
      'SUBSCRIPTION_GONE',
    ],
    [
      'mobilepush',
      {
        outcome: 'failed',
        errorKind: 'invalid_recipient',
        vendorCode: 'messaging/invalid-registration-token',
      },
      'SUBSCRIPTION_GONE',
    ],
    ['mobilepush', { outcome: 'failed', errorKind: 'permanent' }, undefined],
    [
      'sms',
      { outcome: 'failed', errorKind: 'recipient_opted_out', vendorCode: '21610' },
      'STOP_KEYWORD',
    ],
    [
      'whatsapp',
      { outcome: 'failed', errorKind: 'recipient_opted_out', vendorCode: '21610' },
      'STOP_KEYWORD',
    ],
    ['sms', { outcome: 'failed', errorKind: 'invalid_recipient', vendorCode: '21211' }, undefined],
    ['email', { outcome: 'failed', errorKind: 'invalid_recipient' }, undefined],
    ['webpush', { outcome: 'accepted' }, undefined],
  ];
  it.each(table)('%s %j gives %p', (channel, attempt, reason) => {
    expect(suppressionFromAttempt(channel, attempt)).toBe(reason);
  });
});

describe('addressIdentity', () => {
  it('names a web push subscription by its endpoint, whatever its keys', () => {
    const a = JSON.stringify({
      endpoint: 'https://push.example/1',
      keys: { p256dh: 'x', auth: 'y' },
    });
    const b = JSON.stringify({
      keys: { auth: 'z', p256dh: 'w' },
      endpoint: 'https://push.example/1',
    });
    expect(addressIdentity('webpush', a)).toBe('https://push.example/1');
    expect(addressIdentity('webpush', b)).toBe(addressIdentity('webpush', a));
  });

  it('keeps other addresses as they are', () => {
    expect(addressIdentity('sms', '+4915100000001')).toBe('+4915100000001');
    expect(addressIdentity('webpush', 'https://push.example/2')).toBe('https://push.example/2');
  });
});
