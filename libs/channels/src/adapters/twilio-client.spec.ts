import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { CHANNEL_ERROR_KINDS } from '../channel-error';
import { TransportError } from './http-transport';
import {
  classifyTwilioError,
  classifyTwilioNetworkError,
  parseRetryAfterMs,
  translateTwilioFailure,
  TWILIO_MESSAGING_ERROR_DESCRIPTIONS,
  TWILIO_MESSAGING_ERROR_KINDS,
  TWILIO_NETWORK_ERROR_KINDS,
  TwilioHttpClient,
  UNREADABLE_RESPONSE,
  type TwilioErrorCatalog,
} from './twilio-client';
import { TWILIO_SMS_ERROR_DESCRIPTIONS, TWILIO_SMS_ERROR_KINDS } from './twilio-sms.adapter';
import {
  TWILIO_WHATSAPP_ERROR_DESCRIPTIONS,
  TWILIO_WHATSAPP_ERROR_KINDS,
} from './twilio-whatsapp.adapter';

const SMS: TwilioErrorCatalog = {
  kinds: TWILIO_SMS_ERROR_KINDS,
  descriptions: TWILIO_SMS_ERROR_DESCRIPTIONS,
};

/** What the transport rejects with when no HTTP answer came. */
function transportError(message: string, code = 'ERR_NETWORK'): Error {
  return new TransportError(code, message);
}

describe('classifyTwilioError', () => {
  it.each([
    [29999, 400, 'permanent'],
    [29999, 404, 'permanent'],
    [29999, 401, 'configuration'],
    [29999, 403, 'configuration'],
    [29999, 429, 'rate_limited'],
    [29999, 500, 'transient'],
    [29999, 503, 'transient'],
    [undefined, 400, 'permanent'],
    [undefined, 401, 'configuration'],
    [undefined, 403, 'configuration'],
    [undefined, 429, 'rate_limited'],
    [undefined, 502, 'transient'],
    [undefined, 200, 'outcome_unknown'],
    [undefined, 201, 'outcome_unknown'],
    [21610, 201, 'outcome_unknown'],
  ] as const)('unknown code %s with HTTP %s falls back to %s', (code, status, kind) => {
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, code, status)).toBe(kind);
  });

  it('lets the table win over the HTTP status', () => {
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, 21610, 400)).toBe('recipient_opted_out');
    expect(classifyTwilioError(TWILIO_SMS_ERROR_KINDS, 20003, 401)).toBe('configuration');
  });

  it('sends a region permission problem (21408) to the next account', () => {
    expect(TWILIO_SMS_ERROR_KINDS['21408']).toBe('configuration');
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

  it('describes exactly the codes of each table', () => {
    const keys = (table: object) => Object.keys(table).sort();
    expect(keys(TWILIO_MESSAGING_ERROR_DESCRIPTIONS)).toEqual(keys(TWILIO_MESSAGING_ERROR_KINDS));
    expect(keys(TWILIO_SMS_ERROR_DESCRIPTIONS)).toEqual(keys(TWILIO_SMS_ERROR_KINDS));
    expect(keys(TWILIO_WHATSAPP_ERROR_DESCRIPTIONS)).toEqual(keys(TWILIO_WHATSAPP_ERROR_KINDS));
  });
});

describe('classifyTwilioNetworkError', () => {
  it.each(Object.entries(TWILIO_NETWORK_ERROR_KINDS))('%s → %s', (code, kind) => {
    expect(classifyTwilioNetworkError(code)).toBe(kind);
  });

  it('splits "nothing was sent" from "may have been sent"', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']) {
      expect(classifyTwilioNetworkError(code)).toBe('transient');
    }
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE']) {
      expect(classifyTwilioNetworkError(code)).toBe('outcome_unknown');
    }
  });

  it('keeps TLS handshake failures transient: no request was written', () => {
    expect(classifyTwilioNetworkError('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('transient');
    expect(classifyTwilioNetworkError('CERT_HAS_EXPIRED')).toBe('transient');
  });

  it('treats an unknown code as outcome_unknown: it may have come after sending', () => {
    expect(classifyTwilioNetworkError('HPE_INVALID_CONSTANT')).toBe('outcome_unknown');
  });
});

describe('translateTwilioFailure', () => {
  // The codes the Twilio fake cannot provoke (it answers on 127.0.0.1, so DNS and a write to a
  // closed socket never fail); ECONNREFUSED, ECONNRESET and the timeout are in the SMS spec.
  it.each([
    ['EPIPE', 'outcome_unknown'],
    ['ENOTFOUND', 'transient'],
    ['EAI_AGAIN', 'transient'],
    ['EHOSTUNREACH', 'transient'],
    ['ENETUNREACH', 'transient'],
    ['ETIMEDOUT', 'outcome_unknown'],
  ] as const)('a transport %s is %s and keeps the code', (code, kind) => {
    const error = translateTwilioFailure('twilio', SMS, transportError(`boom ${code}`, code));

    expect(error).toMatchObject({ kind, provider: 'twilio', vendorCode: code });
    expect(error.message).toContain(`(${code})`);
  });

  it('reports a transport error without a code as ERR_NETWORK, outcome unknown', () => {
    const error = translateTwilioFailure('twilio', SMS, transportError('Network Error'));

    expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: 'ERR_NETWORK' });
  });

  it('reports an error raised after a 2xx as outcome_unknown, without quoting the body', () => {
    // What twilio-node throws when a 201 body is not JSON; V8 quotes the start of the input.
    let syntaxError: unknown;
    try {
      JSON.parse('+14155550123 accepted');
    } catch (error) {
      syntaxError = error;
    }
    expect(String(syntaxError)).toContain('+14155550');

    const error = translateTwilioFailure('twilio', SMS, syntaxError, { status: 201 });

    expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: UNREADABLE_RESPONSE });
    expect(error.retryable).toBe(false);
    expect(inspect(error, { depth: 20 })).not.toContain('+14155550');
    expect(inspect(error, { depth: 20 })).toContain('SyntaxError');
  });

  it('classifies an error raised after a non-2xx answer by its status', () => {
    const error = translateTwilioFailure('twilio', SMS, new SyntaxError('bad'), { status: 502 });

    expect(error).toMatchObject({ kind: 'transient', vendorCode: '502' });
  });

  it('reports an error before any request as permanent, naming only its type', () => {
    const error = translateTwilioFailure(
      'twilio',
      SMS,
      new TypeError('cannot use +14155550123 here'),
    );

    expect(error).toMatchObject({ kind: 'permanent', vendorCode: undefined });
    expect(error.message).toBe('twilio: Twilio request not sent: TypeError');
    expect(inspect(error, { depth: 20 })).not.toContain('+14155550123');
  });

  it('treats a TwilioServiceException code of 0 as no code', () => {
    const exception = Object.assign(new Error('[HTTP 403] Forbidden'), { status: 403, code: 0 });

    const error = translateTwilioFailure('twilio', SMS, exception);

    expect(error).toMatchObject({ kind: 'configuration', vendorCode: '403' });
    expect(error.message).toBe(
      'twilio: Twilio answered HTTP 403: account credentials or permissions refused',
    );
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

describe('TwilioHttpClient.request', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Array<{ url?: string; headers: Record<string, unknown>; body: string }> = [];
  let answer = { status: 200, type: 'application/json', body: '{"sid":"SM1"}' };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
        });
        response.writeHead(answer.status, { 'content-type': answer.type, 'retry-after': '3' });
        response.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => (seen.length = 0));
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends a form with repeated array fields, Basic auth and repeated query parameters', async () => {
    answer = { status: 201, type: 'application/json', body: '{"sid":"SM1"}' };
    const client = new TwilioHttpClient({ baseUrl, timeoutMs: 1_000 });

    const response = await client.request({
      method: 'post',
      uri: 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json',
      username: 'AC1',
      password: 'token',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      params: { PageSize: 2, Status: ['queued', 'sent'] },
      data: { To: '+14155550123', MediaUrl: ['https://a.example/1', 'https://a.example/2'] },
    });

    expect(response).toMatchObject({ statusCode: 201, body: { sid: 'SM1' } });
    expect(seen[0]?.url).toBe(
      '/2010-04-01/Accounts/AC1/Messages.json?PageSize=2&Status=queued&Status=sent',
    );
    expect(seen[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('AC1:token').toString('base64')}`,
    );
    expect(new URLSearchParams(seen[0]?.body).getAll('MediaUrl')).toEqual([
      'https://a.example/1',
      'https://a.example/2',
    ]);
    expect(new URLSearchParams(seen[0]?.body).get('To')).toBe('+14155550123');
  });

  it('sends JSON as JSON, and hands over an answer that is not JSON as text', async () => {
    answer = { status: 502, type: 'text/html', body: '<html>bad gateway</html>' };
    const client = new TwilioHttpClient({ baseUrl, timeoutMs: 1_000 });

    const response = await client.request({
      method: 'post',
      uri: 'https://content.twilio.com/v1/Content',
      username: 'AC1',
      password: 'token',
      headers: { 'Content-Type': 'application/json' },
      data: { friendly_name: 'x' },
    });

    expect(response).toMatchObject({ statusCode: 502, body: '<html>bad gateway</html>' });
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ friendly_name: 'x' });
  });
});
