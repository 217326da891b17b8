import { decodeCancelCommand, type CancelCommandInput } from './cancel-command';

const byGroup: CancelCommandInput = {
  cancelId: 'cancel-1',
  customerId: 'cust-1',
  groupKey: 'cart-8812',
  reason: { code: 'CART_PURCHASED', message: 'the cart was bought' },
  requestedBy: 'checkout-service',
  requestedAt: '2026-12-04T10:00:00Z',
};

const decode = (value: unknown, key: string | null = 'cust-1') =>
  decodeCancelCommand(key, Buffer.from(JSON.stringify(value)), { maxBytes: 10_000 });

describe('decodeCancelCommand', () => {
  it('reads a cancel by group key, with the schema version filled in', () => {
    const result = decode(byGroup);
    expect(result).toEqual({ ok: true, cancel: { ...byGroup, schemaVersion: 1 } });
  });

  it('reads a cancel by message id', () => {
    expect(decode({ ...byGroup, groupKey: undefined, messageId: 'msg-1' }).ok).toBe(true);
  });

  it('refuses a cancel naming both or neither of messageId and groupKey', () => {
    expect(decode({ ...byGroup, groupKey: undefined })).toMatchObject({
      ok: false,
      code: 'SCHEMA_VIOLATION',
    });
    expect(decode({ ...byGroup, messageId: 'msg-1' })).toMatchObject({
      ok: false,
      code: 'SCHEMA_VIOLATION',
    });
  });

  it('refuses a record keyed by another customer, bad JSON and unknown fields', () => {
    expect(decode(byGroup, 'cust-2')).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
    expect(decodeCancelCommand('cust-1', Buffer.from('{'), { maxBytes: 100 })).toMatchObject({
      ok: false,
      code: 'INVALID_JSON',
    });
    expect(decode({ ...byGroup, reasn: 'x' })).toMatchObject({ ok: false });
    expect(decode({ ...byGroup, groupKey: 'Cart 1' })).toMatchObject({ ok: false });
  });
});
