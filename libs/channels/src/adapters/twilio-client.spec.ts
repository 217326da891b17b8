import { CHANNEL_ERROR_KINDS } from '../channel-error';
import {
  classifyTwilioError,
  parseRetryAfterMs,
  TWILIO_MESSAGING_ERROR_KINDS,
  TWILIO_NETWORK_ERROR_KINDS,
  TwilioHttpClient,
} from './twilio-client';
import { TWILIO_SMS_ERROR_KINDS } from './twilio-sms.adapter';
import { TWILIO_WHATSAPP_ERROR_KINDS } from './twilio-whatsapp.adapter';

describe('classifyTwilioError', () => {
  it.each([
    [29999, 400, 'permanent'],
    [29999, 404, 'permanent'],
    [29999, 401, 'permanent'],
    [29999, 429, 'rate_limited'],
    [29999, 500, 'transient'],
    [29999, 503, 'transient'],
    [undefined, 400, 'permanent'],
    [undefined, 429, 'rate_limited'],
    [undefined, 502, 'transient'],
  ] as const)('unknown code %s with HTTP %s falls back to %s', (code, status, kind) => {
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, code, status)).toBe(kind);
  });

  it('lets the table win over the HTTP status', () => {
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, 21610, 400)).toBe('recipient_opted_out');
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, 20003, 401)).toBe('configuration');
  });

  it('uses only kinds of our taxonomy, and never treats a code as success', () => {
    const tables = [
      TWILIO_MESSAGING_ERROR_KINDS,
      TWILIO_SMS_ERROR_KINDS,
      TWILIO_WHATSAPP_ERROR_KINDS,
      TWILIO_NETWORK_ERROR_KINDS,
    ];
    for (const table of tables) {
      for (const kind of Object.values(table)) expect(CHANNEL_ERROR_KINDS).toContain(kind);
    }
  });

  it('keeps the shared rows in both channel tables', () => {
    expect(TWILIO_SMS_ERROR_KINDS).toMatchObject(TWILIO_MESSAGING_ERROR_KINDS);
    expect(TWILIO_WHATSAPP_ERROR_KINDS).toMatchObject(TWILIO_MESSAGING_ERROR_KINDS);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it.each([
    ['7', 7_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
    [['7'], undefined],
  ])('%j → %s', (value, expected) => {
    expect(parseRetryAfterMs(value, now)).toBe(expected);
  });
});

describe('TwilioHttpClient.redirect', () => {
  const uri = 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=1';

  it('moves Twilio URLs to the base URL, keeping path and query', () => {
    const client = new TwilioHttpClient({ baseUrl: 'http://127.0.0.1:4010', timeoutMs: 1_000 });

    expect(client.redirect(uri)).toBe(
      'http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages.json?PageSize=1',
    );
    expect(client.redirect('https://api.sydney.au1.twilio.com/2010-04-01/x.json')).toBe(
      'http://127.0.0.1:4010/2010-04-01/x.json',
    );
  });

  it('keeps a path prefix of the base URL', () => {
    const client = new TwilioHttpClient({
      baseUrl: 'https://sandbox.internal/twilio/',
      timeoutMs: 1_000,
    });

    expect(client.redirect(uri)).toBe(
      'https://sandbox.internal/twilio/2010-04-01/Accounts/AC1/Messages.json?PageSize=1',
    );
  });

  it('changes nothing without a base URL (production) or for other hosts', () => {
    expect(new TwilioHttpClient({ timeoutMs: 1_000 }).redirect(uri)).toBe(uri);
    const sandboxed = new TwilioHttpClient({ baseUrl: 'http://127.0.0.1:4010', timeoutMs: 1_000 });
    expect(sandboxed.redirect('https://example.com/a')).toBe('https://example.com/a');
  });

  it('keeps twilio-node from retrying 429s by itself', () => {
    expect(new TwilioHttpClient({ timeoutMs: 1_000 }).autoRetry).toBe(false);
  });
});
