import { decodeProviderEvent, providerEventKey, type ProviderEvent } from './provider-event';

const delivered: ProviderEvent = {
  schemaVersion: 1,
  type: 'message-status',
  eventId: 'SM123:delivered',
  provider: 'twilio',
  channel: 'sms',
  occurredAt: '2026-12-04T10:00:00Z',
  receivedAt: '2026-12-04T10:00:01Z',
  messageId: 'order-1',
  providerMessageId: 'SM123',
  outcome: 'delivered',
  providerStatus: 'delivered',
  errorCode: null,
  detail: null,
};

const stop: ProviderEvent = {
  schemaVersion: 1,
  type: 'address-consent',
  eventId: 'SM999',
  provider: 'twilio',
  channel: 'sms',
  occurredAt: '2026-12-04T10:00:00Z',
  receivedAt: '2026-12-04T10:00:01Z',
  addressHash: 'a'.repeat(64),
  action: 'opt-out',
  keyword: 'STOP',
};

const encode = (value: unknown) => Buffer.from(JSON.stringify(value));
const options = { maxBytes: 10_000 };

describe('decodeProviderEvent', () => {
  it.each([
    ['a message status', delivered, 'order-1'],
    ['an address consent', stop, `address:${'a'.repeat(64)}`],
  ])('reads %s keyed by %s', (_name, event, key) => {
    expect(providerEventKey(event)).toBe(key);
    expect(decodeProviderEvent(key, encode(event), options)).toEqual({ ok: true, event });
  });

  it.each([
    ['a key of another message', 'order-2', encode(delivered), 'KEY_MISMATCH'],
    ['no value', 'order-1', null, 'SCHEMA_VIOLATION'],
    ['broken JSON', 'order-1', Buffer.from('{"type":'), 'INVALID_JSON'],
    ['too many bytes', 'order-1', Buffer.alloc(10_001, 32), 'PAYLOAD_TOO_LARGE'],
    ['an unknown type', 'order-1', encode({ ...delivered, type: 'other' }), 'SCHEMA_VIOLATION'],
    ['an unknown outcome', 'order-1', encode({ ...delivered, outcome: 'ok' }), 'SCHEMA_VIOLATION'],
    ['an address in clear', 'x', encode({ ...stop, addressHash: '+15550100' }), 'SCHEMA_VIOLATION'],
    ['an extra field', 'order-1', encode({ ...delivered, body: 'hi' }), 'SCHEMA_VIOLATION'],
  ])('refuses %s', (_name, key, value, code) => {
    const result = decodeProviderEvent(key, value, options);
    expect(result).toMatchObject({ ok: false, code });
  });
});
