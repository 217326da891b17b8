import { decodeSendCommand, validateSendCommand, type Rejection } from './decode';
import { decodeProfileEvent } from './profile-decode';

/*
 * Rejection reasons travel in receipts, Kafka headers and logs, where a phone number, an address
 * or a message body must never appear: they name fields and limits, never values.
 */
const PHONE = '+447700900123';
const EMAIL = 'ana.souza@example.com';
const BODY = 'Your one-time code is 482913';

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

function rejectionOf(value: Buffer): Rejection {
  const result = decodeSendCommand(value, { maxBytes: 65536 });
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection;
}

function base(): Record<string, unknown> {
  return {
    id: 'cmd-1',
    customerId: 'cust-1',
    category: 'order_updates',
    recipient: { phone: '+14155550123' },
    content: { sms: { text: 'Your order has shipped.' } },
  };
}

const secrets = [PHONE, '447700900123', '7700900123', EMAIL, 'ana.souza', BODY, '482913'];

function expectNoSecrets(rejection: Pick<Rejection, 'message' | 'problems'>): void {
  const text = JSON.stringify([rejection.message, rejection.problems]);
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('rejection reasons quote no part of the payload', () => {
  it.each([
    ['a phone number in truncated JSON', `{"recipient": {"phone": "${PHONE}"`],
    ['an email after a stray token', `{"recipient": {"email": "${EMAIL}"}, x}`],
    ['a body in single quotes', `{"content": {"sms": {"text": '${BODY}'}}}`],
    ['a bare phone number', `${PHONE} ${EMAIL}`],
    ['an email as plain text', EMAIL],
  ])('INVALID_JSON: %s', (_name, text) => {
    const rejection = rejectionOf(utf8(text));
    expect(rejection.code).toBe('INVALID_JSON');
    expect(rejection.message).toMatch(/^the record value is not valid JSON: /);
    expectNoSecrets(rejection);
  });

  it('INVALID_JSON still says where, by position', () => {
    expect(rejectionOf(utf8('{"id": "a",}')).message).toMatch(/at character \d+/);
  });

  it.each([
    ['a phone number as a number', { recipient: { phone: 447700900123 } }],
    ['an email as the phone', { recipient: { phone: EMAIL } }],
    ['a phone number as the email', { recipient: { email: PHONE } }],
    ['a body where the category goes', { category: BODY }],
    ['a phone number as the id', { id: `${PHONE} ${EMAIL}` }],
    ['an email as an unknown field', { [EMAIL]: true }],
    ['a phone number as an unknown recipient key', { recipient: { [PHONE]: 'x' } }],
    ['a body as the priority', { priority: BODY }],
    ['a phone number as a channel', { channels: [PHONE] }],
    ['an email as the TTL', { ttlSeconds: EMAIL }],
  ])('SCHEMA_VIOLATION: %s', (_name, change) => {
    const result = validateSendCommand({ ...base(), ...change });
    if (result.ok) throw new Error('expected a rejection');
    expect(result.rejection.code).toBe('SCHEMA_VIOLATION');
    expect(result.rejection.problems.length).toBeGreaterThan(0);
    expectNoSecrets(result.rejection);
  });

  it('still names a misspelt field that is a plain name', () => {
    const result = validateSendCommand({ ...base(), recipent: {} });
    if (result.ok) throw new Error('expected a rejection');
    expect(result.rejection.message).toContain('recipent');
  });

  it('profile records: bad JSON and a key mismatch quote neither the value nor the key', () => {
    const options = { maxBytes: 65536 };
    const badJson = decodeProfileEvent('cust-1', utf8(`{"phones": ["${PHONE}"`), options);
    const mismatch = decodeProfileEvent(
      EMAIL,
      utf8(
        JSON.stringify({
          type: 'delete',
          customerId: 'cust-1',
          version: 1,
          occurredAt: new Date().toISOString(),
        }),
      ),
      options,
    );
    for (const result of [badJson, mismatch]) {
      if (result.ok) throw new Error('expected a rejection');
      expectNoSecrets({ message: result.message, problems: [...result.problems] });
    }
  });
});
