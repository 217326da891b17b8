import { InvalidReceiptError, buildReceipt, deliveryReceiptSchema } from './delivery-receipt';
import type { DeliveryReceipt } from './delivery-receipt';
import { receiptEventId } from './event-id';
import { plainErrorMap, toProblems } from './problems';

function receipt(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const valid: DeliveryReceipt = {
    schemaVersion: 1,
    eventId: receiptEventId({ messageId: 'cmd-1', status: 'sent', attempt: 1 }),
    messageId: 'cmd-1',
    customerId: 'cust-1',
    status: 'sent',
    channel: 'sms',
    provider: 'twilio',
    providerMessageId: 'SM123',
    attempt: 1,
    reason: null,
    occurredAt: '2025-06-02T09:30:00.000Z',
    trace: [
      { channel: 'sms', decision: 'sent', detail: 'first choice', at: '2025-06-02T09:30:00Z' },
    ],
  };
  return { ...valid, ...overrides };
}

function problemsOf(input: unknown) {
  const result = deliveryReceiptSchema.safeParse(input, { error: plainErrorMap });
  return result.success ? [] : toProblems(result.error);
}

describe('DeliveryReceipt v1 schema', () => {
  it.each([
    ['a sent receipt', receipt()],
    [
      'a rejected receipt for an unreadable record',
      receipt({
        messageId: 'kafka:omnigate.send.v1:0:42',
        customerId: null,
        status: 'rejected',
        channel: null,
        provider: null,
        providerMessageId: null,
        attempt: 0,
        reason: { code: 'INVALID_JSON', message: 'the record value is not valid JSON' },
        trace: [],
      }),
    ],
    [
      'a deferred receipt',
      receipt({ status: 'deferred', deferredUntil: '2025-06-02T22:00:00+02:00', trace: [] }),
    ],
    ['a fallback', receipt({ channel: 'email', fallbackFrom: 'sms' })],
    ['correlation ids', receipt({ correlation: { orderId: '42', traceparent: '00-abc-01' } })],
    [
      'a failed channel in the trace',
      receipt({
        trace: [
          { channel: 'whatsapp', decision: 'skipped', detail: 'no WhatsApp number on file' },
          {
            channel: 'sms',
            decision: 'failed',
            reasonCode: 'CARRIER_REJECTED',
            detail: 'the carrier refused the number',
          },
        ],
      }),
    ],
  ])('accepts %s', (_label, input) => {
    expect(problemsOf(input)).toEqual([]);
  });

  it.each([
    ['an unknown status', receipt({ status: 'lost' }), 'status', 'must be one of accepted'],
    [
      'a lowercase reason code',
      receipt({ reason: { code: 'bad', message: 'x' } }),
      'reason.code',
      'UPPER_SNAKE_CASE',
    ],
    [
      'an empty reason message',
      receipt({ reason: { code: 'BAD', message: '' } }),
      'reason.message',
      'must not be empty',
    ],
    ['a negative attempt', receipt({ attempt: -1 }), 'attempt', 'at least 0'],
    ['a fractional attempt', receipt({ attempt: 0.5 }), 'attempt', 'must be an integer'],
    ['an unknown channel', receipt({ channel: 'fax' }), 'channel', 'unknown channel'],
    ['a missing eventId', receipt({ eventId: undefined }), 'eventId', 'is required'],
    [
      'a missing provider (null is required)',
      receipt({ provider: undefined }),
      'provider',
      'is required',
    ],
    [
      'occurredAt without offset',
      receipt({ occurredAt: '2025-06-02T09:30:00' }),
      'occurredAt',
      'ISO 8601',
    ],
    ['schemaVersion 2', receipt({ schemaVersion: 2 }), 'schemaVersion', 'must be 1'],
    [
      'null customerId on a sent receipt',
      receipt({ customerId: null }),
      'customerId',
      'only on a rejected receipt',
    ],
    [
      'deferredUntil on a sent receipt',
      receipt({ deferredUntil: '2025-06-03T00:00:00Z' }),
      'deferredUntil',
      'only allowed when status is deferred',
    ],
    [
      'fallbackFrom equal to channel',
      receipt({ fallbackFrom: 'sms' }),
      'fallbackFrom',
      'must differ from channel',
    ],
    [
      'a bad trace decision',
      receipt({ trace: [{ channel: 'sms', decision: 'maybe', detail: 'x' }] }),
      'trace[0].decision',
      'must be one of chosen',
    ],
    [
      'a trace entry without detail',
      receipt({ trace: [{ channel: 'sms', decision: 'sent' }] }),
      'trace[0].detail',
      'is required',
    ],
    [
      'a trace reason code in lowercase',
      receipt({
        trace: [{ channel: 'sms', decision: 'failed', reasonCode: 'timeout', detail: 'x' }],
      }),
      'trace[0].reasonCode',
      'UPPER_SNAKE_CASE',
    ],
    [
      'a non-string correlation value',
      receipt({ correlation: { n: 1 } }),
      'correlation.n',
      'must be a string',
    ],
  ])('rejects %s', (_label, input, path, fragment) => {
    const problem = problemsOf(input).find((p) => p.path === path);
    expect(problem?.message).toContain(fragment);
  });

  it('tolerates fields it does not know (forward compatible) and drops them', () => {
    const result = deliveryReceiptSchema.safeParse(receipt({ addedInV1_1: true }));
    expect(result.success && 'addedInV1_1' in result.data).toBe(false);
  });
});

describe('buildReceipt', () => {
  const now = () => new Date('2025-06-02T09:30:00.000Z');

  it('fills schemaVersion, eventId, occurredAt and the null defaults', () => {
    const built = buildReceipt(
      { messageId: 'cmd-1', customerId: 'cust-1', status: 'accepted' },
      { now },
    );
    expect(built).toEqual({
      schemaVersion: 1,
      eventId: receiptEventId({ messageId: 'cmd-1', status: 'accepted', attempt: 0 }),
      messageId: 'cmd-1',
      customerId: 'cust-1',
      status: 'accepted',
      channel: null,
      provider: null,
      providerMessageId: null,
      attempt: 0,
      reason: null,
      occurredAt: '2025-06-02T09:30:00.000Z',
      trace: [],
    });
  });

  it('gives the same eventId when the same receipt is built again later', () => {
    const input = {
      messageId: 'cmd-1',
      customerId: 'cust-1',
      status: 'sent',
      channel: 'sms',
      attempt: 1,
    } as const;
    const first = buildReceipt(input, { now });
    const again = buildReceipt(input, { now: () => new Date('2030-01-01T00:00:00Z') });
    expect(again.eventId).toBe(first.eventId);
    expect(again.occurredAt).not.toBe(first.occurredAt);
  });

  it('uses the discriminator exactly as receiptEventId does', () => {
    const built = buildReceipt(
      { messageId: 'm', customerId: 'c', status: 'sent', channel: 'email', discriminator: 'email' },
      { now },
    );
    expect(built.eventId).toBe(
      receiptEventId({ messageId: 'm', status: 'sent', attempt: 0, discriminator: 'email' }),
    );
    expect(built).not.toHaveProperty('discriminator');
  });

  it('accepts dates as Date or string', () => {
    const built = buildReceipt(
      {
        messageId: 'm',
        customerId: 'c',
        status: 'deferred',
        occurredAt: '2025-06-02T09:30:00+02:00',
        deferredUntil: new Date('2025-06-02T20:00:00Z'),
      },
      { now },
    );
    expect(built.occurredAt).toBe('2025-06-02T09:30:00+02:00');
    expect(built.deferredUntil).toBe('2025-06-02T20:00:00.000Z');
  });

  it('keeps optional fields out when not given', () => {
    const built = buildReceipt({ messageId: 'm', customerId: 'c', status: 'sent' }, { now });
    for (const key of ['deferredUntil', 'fallbackFrom', 'correlation']) {
      expect(built).not.toHaveProperty(key);
    }
  });

  it('throws InvalidReceiptError listing every problem', () => {
    let caught: unknown;
    try {
      buildReceipt({
        messageId: '',
        customerId: null,
        status: 'sent',
        attempt: -1,
        reason: { code: 'oops', message: 'x' },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidReceiptError);
    const error = caught as InvalidReceiptError;
    expect(error.problems.map((p) => p.path).sort()).toEqual(
      ['attempt', 'customerId', 'messageId', 'reason.code'].sort(),
    );
    expect(error.message).toMatch(/^invalid delivery receipt: /);
  });
});
