import { RECEIPT_STATUSES } from './receipt-status';
import { RECEIPT_EVENT_ID_NAMESPACE, receiptEventId, uuidV5 } from './event-id';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV5', () => {
  // Reference values from Python's uuid.uuid5, an independent implementation.
  it.each([
    [
      '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
      'www.example.com',
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    ],
    [
      '6ba7b811-9dad-11d1-80b4-00c04fd430c8',
      'https://example.com/ü',
      'a17f7a1d-6bb5-51a9-9d32-f9d2fdeec8b6',
    ],
  ])('matches the reference for %s + %s', (namespace, name, expected) => {
    expect(uuidV5(namespace, name)).toBe(expected);
  });

  it('rejects a namespace that is not a UUID', () => {
    expect(() => uuidV5('not-a-uuid', 'x')).toThrow(RangeError);
  });
});

describe('receiptEventId', () => {
  const parts = { messageId: 'cmd-1', status: 'sent', attempt: 0 } as const;

  it('is pinned: changing the namespace or name layout would break consumer deduplication', () => {
    expect(RECEIPT_EVENT_ID_NAMESPACE).toBe('e2650f7e-b744-4087-8c17-3642e9afdff5');
    expect(receiptEventId(parts)).toBe('149204b7-7f82-5ecc-ba6e-6791f1cd5f55');
  });

  it('is deterministic and formatted as a version 5 UUID', () => {
    const first = receiptEventId(parts);
    expect(receiptEventId({ ...parts })).toBe(first);
    expect(first).toMatch(UUID_V5);
  });

  it('gives every status its own id', () => {
    const ids = RECEIPT_STATUSES.map((status) => receiptEventId({ ...parts, status }));
    expect(new Set(ids).size).toBe(RECEIPT_STATUSES.length);
    for (const id of ids) expect(id).toMatch(UUID_V5);
  });

  it.each([
    ['messageId', { ...parts, messageId: 'cmd-2' }],
    ['attempt', { ...parts, attempt: 1 }],
    ['discriminator', { ...parts, discriminator: 'sms' }],
    ['empty discriminator vs none', { ...parts, discriminator: '' }],
  ])('changes when %s changes', (_label, changed) => {
    expect(receiptEventId(changed)).not.toBe(receiptEventId(parts));
  });

  it('cannot be confused by separators inside the parts', () => {
    const a = receiptEventId({ ...parts, messageId: 'a", "sent', discriminator: 'x' });
    const b = receiptEventId({ ...parts, messageId: 'a', discriminator: '", "sent", 0, "x' });
    expect(a).not.toBe(b);
  });

  it('accepts any Unicode in the parts', () => {
    expect(receiptEventId({ ...parts, messageId: '訂單-42-🚚' })).toMatch(UUID_V5);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects attempt %p', (attempt) => {
    expect(() => receiptEventId({ ...parts, attempt })).toThrow(RangeError);
  });
});
