import { PROVIDER_OUTCOMES } from '@omnigate/contracts';
import {
  parseTwilioInbound,
  parseTwilioStatusCallback,
  TWILIO_STATUS_OUTCOMES,
} from './twilio-webhooks';

const SID = `SM${'a'.repeat(32)}`;
const TO = '+14155550123';

describe('parseTwilioStatusCallback', () => {
  it.each([
    ['accepted', 'none'],
    ['scheduled', 'none'],
    ['queued', 'none'],
    ['sending', 'none'],
    ['sent', 'sent'],
    ['delivered', 'delivered'],
    ['read', 'read'],
    ['undelivered', 'failed'],
    ['failed', 'failed'],
    ['canceled', 'failed'],
    ['partially_delivered', 'unknown'],
    ['receiving', 'unknown'],
    ['something_new', 'unknown'],
  ])('maps MessageStatus %s to %s', (status, outcome) => {
    const result = parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: status, To: TO });
    expect(result).toMatchObject({ ok: true, value: { outcome, providerStatus: status } });
  });

  it('never maps a status to a success it does not name', () => {
    const successes = new Set(['sent', 'delivered', 'read']);
    for (const [status, outcome] of Object.entries(TWILIO_STATUS_OUTCOMES)) {
      expect(PROVIDER_OUTCOMES).toContain(outcome);
      if (successes.has(outcome)) expect(status).toBe(outcome);
    }
  });

  it('reads an undelivered SMS with its error code in our words', () => {
    expect(
      parseTwilioStatusCallback({
        MessageSid: SID,
        MessageStatus: 'undelivered',
        ErrorCode: '30003',
        To: TO,
        From: '+15005550006',
      }),
    ).toEqual({
      ok: true,
      value: {
        providerMessageId: SID,
        channel: 'sms',
        providerStatus: 'undelivered',
        outcome: 'failed',
        errorCode: '30003',
        detail: 'handset unreachable',
        recipient: TO,
      },
    });
  });

  it('tells WhatsApp by its address prefix, and reads its read status', () => {
    const result = parseTwilioStatusCallback({
      MessageSid: SID,
      MessageStatus: 'read',
      To: `whatsapp:${TO}`,
    });
    expect(result).toMatchObject({ ok: true, value: { channel: 'whatsapp', outcome: 'read' } });
  });

  it('treats ErrorCode 0 or empty as no error, and an unknown code as a code', () => {
    for (const ErrorCode of ['0', '']) {
      expect(
        parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: 'delivered', ErrorCode }),
      ).toMatchObject({ ok: true, value: { errorCode: null, detail: null } });
    }
    expect(
      parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: 'failed', ErrorCode: '39999' }),
    ).toMatchObject({ ok: true, value: { errorCode: '39999', detail: 'Twilio error 39999' } });
  });

  it('suppresses the recipient when Twilio says it replied STOP (21610)', () => {
    expect(
      parseTwilioStatusCallback({
        MessageSid: SID,
        MessageStatus: 'failed',
        ErrorCode: '21610',
        To: TO,
      }),
    ).toMatchObject({ ok: true, value: { suppressReason: 'STOP_KEYWORD', recipient: TO } });
  });

  it.each([
    [{ MessageStatus: 'sent' }, 'MessageSid'],
    [{ MessageSid: 'SM<script>', MessageStatus: 'sent' }, 'MessageSid'],
    [{ MessageSid: SID }, 'MessageStatus'],
    [{ MessageSid: SID, MessageStatus: 'sent; drop' }, 'MessageStatus'],
    [{ MessageSid: SID, MessageStatus: 'failed', ErrorCode: 'abc' }, 'ErrorCode'],
  ])('refuses a callback without what it needs (%j)', (params, field) => {
    const result = parseTwilioStatusCallback(params);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(field);
  });
});

describe('parseTwilioInbound', () => {
  const inbound = (fields: Record<string, string>) =>
    parseTwilioInbound({ MessageSid: SID, From: TO, To: '+15005550006', ...fields });

  it.each([
    ['STOP', 'opt-out', 'STOP'],
    ['  stop ', 'opt-out', 'STOP'],
    ['Unsubscribe', 'opt-out', 'UNSUBSCRIBE'],
    ['STOPALL', 'opt-out', 'STOPALL'],
    ['cancel', 'opt-out', 'CANCEL'],
    ['END', 'opt-out', 'END'],
    ['quit', 'opt-out', 'QUIT'],
    ['START', 'opt-in', 'START'],
    ['yes', 'opt-in', 'YES'],
    ['Unstop', 'opt-in', 'UNSTOP'],
  ])('reads the body %j as %s (%s)', (Body, action, keyword) => {
    expect(inbound({ Body })).toEqual({
      ok: true,
      value: { providerMessageId: SID, channel: 'sms', sender: TO, action, keyword },
    });
  });

  it('follows OptOutType when Advanced Opt-Out matched a custom keyword', () => {
    expect(inbound({ Body: 'ARRETER', OptOutType: 'STOP' })).toMatchObject({
      ok: true,
      value: { action: 'opt-out', keyword: 'STOP' },
    });
    expect(inbound({ Body: 'REPRENDRE', OptOutType: 'START' })).toMatchObject({
      ok: true,
      value: { action: 'opt-in', keyword: 'START' },
    });
  });

  it.each([['HELP'], ['please stop sending these'], ['Where is my order?'], ['']])(
    'changes no consent for %j',
    (Body) => {
      expect(inbound({ Body })).toEqual({ ok: true, value: null });
    },
  );

  it('ignores OptOutType HELP', () => {
    expect(inbound({ Body: 'INFO', OptOutType: 'HELP' })).toEqual({ ok: true, value: null });
  });

  it('tells a WhatsApp sender by its prefix', () => {
    expect(inbound({ From: `whatsapp:${TO}`, Body: 'STOP' })).toMatchObject({
      ok: true,
      value: { channel: 'whatsapp', sender: `whatsapp:${TO}` },
    });
  });

  it('refuses an inbound message without a sid or a sender', () => {
    expect(parseTwilioInbound({ From: TO, Body: 'STOP' }).ok).toBe(false);
    expect(parseTwilioInbound({ MessageSid: SID, Body: 'STOP' }).ok).toBe(false);
  });
});
