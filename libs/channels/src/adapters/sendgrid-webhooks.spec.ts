import { parseSendGridEvent, SENDGRID_EVENT_OUTCOMES } from './sendgrid-webhooks';

const BASE = {
  email: 'ana@example.com',
  timestamp: 1_764_806_400,
  sg_event_id: 'ZGVsaXZlcmVk-1',
  sg_message_id: 'sg-msg.filter0001',
  messageId: 'msg-1',
  category: ['order_updates'],
};

describe('parseSendGridEvent', () => {
  it.each([
    [{ event: 'processed' }, 'sent', undefined],
    [{ event: 'deferred' }, 'deferred', undefined],
    [{ event: 'delivered' }, 'delivered', undefined],
    [{ event: 'open' }, 'read', undefined],
    [{ event: 'click' }, 'read', undefined],
    [{ event: 'bounce', type: 'bounce' }, 'bounced', { reason: 'HARD_BOUNCE' }],
    [{ event: 'bounce', type: 'blocked' }, 'failed', undefined],
    [{ event: 'dropped', reason: 'Bounced Address' }, 'failed', { reason: 'HARD_BOUNCE' }],
    [{ event: 'dropped', reason: 'Spam Reporting Address' }, 'failed', { reason: 'SPAM_REPORT' }],
    [{ event: 'dropped', reason: 'Unsubscribed Address' }, 'failed', { reason: 'UNSUBSCRIBE' }],
    [{ event: 'dropped', reason: 'Invalid SMTPAPI header' }, 'failed', undefined],
    [{ event: 'spamreport' }, 'none', { reason: 'SPAM_REPORT' }],
    [{ event: 'unsubscribe' }, 'none', { reason: 'UNSUBSCRIBE' }],
    [
      { event: 'group_unsubscribe', asm_group_id: 7 },
      'none',
      { reason: 'UNSUBSCRIBE', category: 'order_updates' },
    ],
    [{ event: 'group_resubscribe' }, 'unknown', undefined],
    [{ event: 'machine_opened' }, 'unknown', undefined],
  ])('maps %j to %s with suppression %j', (fields, outcome, suppress) => {
    const parsed = parseSendGridEvent({ ...BASE, ...fields });
    expect(parsed.kind).toBe('event');
    if (parsed.kind !== 'event') return;
    expect(parsed.report.outcome).toBe(outcome);
    expect(parsed.report.suppress).toEqual(suppress);
  });

  it('lists only outcomes that say what the event says (unknown is never a success)', () => {
    expect(SENDGRID_EVENT_OUTCOMES).toEqual({
      processed: 'sent',
      deferred: 'deferred',
      delivered: 'delivered',
      open: 'read',
      click: 'read',
      bounce: 'bounced',
      dropped: 'failed',
      spamreport: 'none',
      unsubscribe: 'none',
      group_unsubscribe: 'none',
    });
  });

  it('keeps the identities and time, the SMTP status, and our words instead of the reason', () => {
    const parsed = parseSendGridEvent({
      ...BASE,
      event: 'bounce',
      type: 'bounce',
      status: '5.1.1',
      reason: '550 5.1.1 <ana@example.com>: Recipient address rejected',
    });
    expect(parsed).toEqual({
      kind: 'event',
      report: {
        eventId: 'ZGVsaXZlcmVk-1',
        messageId: 'msg-1',
        providerMessageId: 'sg-msg.filter0001',
        providerStatus: 'bounce',
        outcome: 'bounced',
        errorCode: '5.1.1',
        detail: 'the receiving server refused the mail permanently',
        occurredAt: new Date(1_764_806_400_000),
        recipient: 'ana@example.com',
        suppress: { reason: 'HARD_BOUNCE' },
      },
    });
    expect(JSON.stringify(parsed)).not.toContain('Recipient address rejected');
  });

  it('reads the category when SendGrid gives it as a single string', () => {
    const parsed = parseSendGridEvent({
      ...BASE,
      category: 'marketing',
      event: 'group_unsubscribe',
    });
    expect(parsed).toMatchObject({
      kind: 'event',
      report: { suppress: { reason: 'UNSUBSCRIBE', category: 'marketing' } },
    });
  });

  it('does not widen a group unsubscribe to every category when the category is missing', () => {
    const parsed = parseSendGridEvent({ ...BASE, category: undefined, event: 'group_unsubscribe' });
    expect(parsed).toMatchObject({ kind: 'event', report: { outcome: 'none' } });
    if (parsed.kind === 'event') expect(parsed.report.suppress).toBeUndefined();
  });

  it('calls an event without our messageId custom arg foreign', () => {
    expect(parseSendGridEvent({ ...BASE, messageId: undefined, event: 'delivered' })).toEqual({
      kind: 'foreign',
    });
  });

  it.each([
    ['not an object', 'delivered'],
    ['no event', { ...BASE }],
    ['no sg_event_id', { ...BASE, sg_event_id: undefined, event: 'open' }],
    ['a string timestamp', { ...BASE, event: 'open', timestamp: '1764806400' }],
    ['an empty email', { ...BASE, event: 'open', email: '' }],
  ])('refuses an element with %s', (_name, element) => {
    expect(parseSendGridEvent(element)).toMatchObject({ kind: 'invalid' });
  });
});
